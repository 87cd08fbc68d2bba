"""Support groups, their members and sessions, bulk session attendance, outside meetings."""

from __future__ import annotations

import datetime
from typing import Any, ClassVar

import django_filters
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from aftercare.api.fields import SESSION_WINDOW, patient_field, support_group_field
from aftercare.models import (
    GroupAttendance,
    GroupAttendanceStatus,
    GroupMembership,
    GroupSession,
    OutsideMeeting,
    OutsideMeetingKind,
    SupportGroup,
)
from aftercare.selectors.schedule import (
    group_attendance_list,
    group_member_list,
    group_session_list,
    outside_meeting_list,
    support_group_list,
)
from aftercare.services.groups import (
    group_membership_add,
    group_membership_end,
    group_session_attendance_record,
    group_session_create,
    outside_meeting_record,
    support_group_create,
    support_group_update,
)
from clinic.api.filters import BooleanFilter, InstantFilter, StrictFilterSet, UpdatedSinceFilter
from clinic.api.idempotency import idempotent
from clinic.api.pagination import SelectorOrderPagination
from clinic.api.serializers import YEAR, CalendarDateField, FastReadMixin, StrictTextField
from clinic.api.views import ClinicScopedViewSet
from clinic.models import Clinic


class SupportGroupSerializer(FastReadMixin, serializers.ModelSerializer[SupportGroup]):
    class Meta:
        model = SupportGroup
        fields = ["id", "name", "kind", "facilitator", "location", "is_active", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs: ClassVar[dict[str, dict[str, Any]]] = {"name": {"validators": []}}


class MembershipSerializer(serializers.ModelSerializer[GroupMembership]):
    patient = patient_field()
    joined_on = CalendarDateField(required=False, past=10 * YEAR, future=YEAR, help_text="Default: today.")

    class Meta:
        model = GroupMembership
        fields = ["id", "patient", "joined_on", "left_on"]
        read_only_fields = ["id", "left_on"]


class LeaveSerializer(serializers.Serializer[Any]):
    patient = patient_field()
    left_on = CalendarDateField(required=False, past=10 * YEAR, future=YEAR, help_text="Default: today.")


class GroupSessionSerializer(FastReadMixin, serializers.ModelSerializer[GroupSession]):
    group = support_group_field()

    class Meta:
        model = GroupSession
        fields = ["id", "group", "starts_at", "ends_at", "location", "cancelled", "created_at", "updated_at"]
        read_only_fields = ["id", "cancelled", "created_at", "updated_at"]
        extra_kwargs: ClassVar[dict[str, dict[str, Any]]] = {"starts_at": SESSION_WINDOW, "ends_at": SESSION_WINDOW}


class AttendanceEntrySerializer(serializers.Serializer[Any]):
    patient = patient_field()
    status = serializers.ChoiceField(choices=GroupAttendanceStatus.choices)
    reason = StrictTextField(
        required=False,
        allow_blank=True,
        default="",
        max_length=1000,
        help_text="Required to change a status already recorded for this patient at this session.",
    )


class BulkAttendanceSerializer(serializers.Serializer[Any]):
    attendance = AttendanceEntrySerializer(many=True, min_length=1, max_length=200)  # type: ignore[call-arg]


class GroupAttendanceSerializer(serializers.ModelSerializer[GroupAttendance]):
    class Meta:
        model = GroupAttendance
        fields = ["patient", "status", "recorded_by", "recorded_by_client", "reason", "updated_at"]


class OutsideMeetingSerializer(FastReadMixin, serializers.ModelSerializer[OutsideMeeting]):
    patient = patient_field()
    kind = serializers.ChoiceField(choices=OutsideMeetingKind.choices)

    class Meta:
        model = OutsideMeeting
        fields = ["id", "patient", "kind", "date", "note", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs: ClassVar[dict[str, dict[str, Any]]] = {
            "note": {"max_length": 2000},
            # A meeting the patient went to: not ahead, and recent enough to matter to the risk rules.
            "date": {"past": 2 * YEAR, "future": datetime.timedelta(0)},
        }


class UpdatedSinceFilterSet(StrictFilterSet):
    updated_since = UpdatedSinceFilter()


class SupportGroupFilter(UpdatedSinceFilterSet):
    is_active = BooleanFilter()

    class Meta:
        model = SupportGroup
        fields = ["kind", "is_active", "updated_since"]


class GroupSessionFilter(UpdatedSinceFilterSet):
    group = django_filters.UUIDFilter(field_name="group_id")
    starts_after = InstantFilter(
        field_name="starts_at",
        lookup_expr="gte",
    )
    starts_before = InstantFilter(
        field_name="starts_at",
        lookup_expr="lt",
    )

    class Meta:
        model = GroupSession
        fields = ["group", "starts_after", "starts_before", "updated_since"]


class OutsideMeetingFilter(UpdatedSinceFilterSet):
    patient = django_filters.UUIDFilter(field_name="patient_id")

    class Meta:
        model = OutsideMeeting
        fields = ["patient", "kind", "updated_since"]


def _today(view: ClinicScopedViewSet) -> Any:
    return timezone.localdate(timezone=view.caller.clinic.zone)


@extend_schema_view(
    list=extend_schema(summary="List support groups", tags=["support-groups"]),
    retrieve=extend_schema(summary="Read a support group", tags=["support-groups"]),
    create=extend_schema(summary="Create a support group", tags=["support-groups"]),
    partial_update=extend_schema(summary="Change a support group", tags=["support-groups"]),
)
class SupportGroupViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClinicScopedViewSet):
    read_scopes = ("schedule:read",)
    write_scopes = ("schedule:write",)
    conflict_actions = frozenset({"members", "leave"})
    http_method_names = ["get", "post", "patch", "head", "options"]
    serializer_class = SupportGroupSerializer
    filterset_class = SupportGroupFilter

    def select(self, clinic: Clinic) -> QuerySet[SupportGroup]:
        return support_group_list(clinic=clinic)

    @idempotent
    def create(self, request: Request) -> Response:
        return self.created(support_group_create(by=self.caller, **self.validated()))

    def partial_update(self, request: Request, pk: str) -> Response:
        group = self.get_object()
        fields = self.validated(instance=group, partial=True)
        return Response(self.get_serializer(support_group_update(group=group, **fields)).data)

    @extend_schema(
        methods=["GET"],
        summary="The group's members",
        responses={200: MembershipSerializer(many=True)},
        tags=["support-groups"],
    )
    @extend_schema(
        methods=["POST"],
        summary="Add a member",
        request=MembershipSerializer,
        responses={201: MembershipSerializer},
        tags=["support-groups"],
    )
    @action(detail=True, methods=["get", "post"], pagination_class=SelectorOrderPagination, filterset_class=None)
    def members(self, request: Request, pk: str) -> Response:
        group = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(group_member_list(group=group))
            return self.get_paginated_response(MembershipSerializer(page, many=True).data)
        return self._add_member(request, group)

    @idempotent
    def _add_member(self, request: Request, group: SupportGroup) -> Response:
        body = self.validated(MembershipSerializer)
        membership = group_membership_add(
            group=group,
            patient=body["patient"],
            joined_on=body.get("joined_on") or _today(self),
        )
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="End a member's membership",
        request=LeaveSerializer,
        responses={200: MembershipSerializer},
        tags=["support-groups"],
    )
    @action(detail=True, methods=["post"], url_path="members/leave")
    @idempotent
    def leave(self, request: Request, pk: str) -> Response:
        group = self.get_object()
        body = self.validated(LeaveSerializer)
        membership = group_member_list(group=group).filter(patient=body["patient"], left_on__isnull=True).first()
        if membership is None:
            raise serializers.ValidationError({"patient": ["Not a current member of this group."]})
        ended = group_membership_end(membership=membership, left_on=body.get("left_on") or _today(self))
        return Response(MembershipSerializer(ended).data)


@extend_schema_view(
    list=extend_schema(summary="List group sessions", tags=["group-sessions"]),
    retrieve=extend_schema(summary="Read a group session", tags=["group-sessions"]),
    create=extend_schema(summary="Schedule a group session", tags=["group-sessions"]),
)
class GroupSessionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClinicScopedViewSet):
    read_scopes = ("schedule:read",)
    write_scopes = ("schedule:write",)
    conflict_actions = frozenset({"attendance"})
    action_scopes = {"attendance": {"GET": ("schedule:read",), "POST": ("attendance:write",)}}
    http_method_names = ["get", "post", "head", "options"]
    serializer_class = GroupSessionSerializer
    ordering_fields = ("created_at", "updated_at", "starts_at")
    filterset_class = GroupSessionFilter

    def select(self, clinic: Clinic) -> QuerySet[GroupSession]:
        return group_session_list(clinic=clinic)

    @idempotent
    def create(self, request: Request) -> Response:
        fields = self.validated()
        return self.created(group_session_create(group=fields.pop("group"), **fields))

    @extend_schema(
        methods=["GET"],
        summary="Attendance at this session",
        responses={200: GroupAttendanceSerializer(many=True)},
        tags=["group-sessions"],
    )
    @extend_schema(
        methods=["POST"],
        summary="Record attendance for several patients at once (all or nothing)",
        description=(
            "A first recording needs no reason. Changing a status already recorded is a correction: "
            "the entry needs a `reason` and the caller a clinical role (or to be the EHR); an entry "
            "repeating the recorded status leaves it as it was."
        ),
        request=BulkAttendanceSerializer,
        responses={200: GroupAttendanceSerializer(many=True)},
        tags=["group-sessions"],
    )
    @action(detail=True, methods=["get", "post"], pagination_class=SelectorOrderPagination, filterset_class=None)
    def attendance(self, request: Request, pk: str) -> Response:
        session = self.get_object()
        if request.method == "GET":
            return self._attendance_page(session)
        return self._record(request, session)

    @idempotent
    def _record(self, request: Request, session: GroupSession) -> Response:
        entries = [
            (item["patient"], item["status"], item["reason"])
            for item in self.validated(BulkAttendanceSerializer)["attendance"]
        ]
        group_session_attendance_record(session=session, entries=entries, by=self.caller)
        return self._attendance_page(session)

    def _attendance_page(self, session: GroupSession) -> Response:
        page = self.paginate_queryset(group_attendance_list(session=session))
        return self.get_paginated_response(GroupAttendanceSerializer(page, many=True).data)


@extend_schema_view(
    list=extend_schema(summary="List self-reported outside meetings", tags=["outside-meetings"]),
    retrieve=extend_schema(summary="Read an outside meeting", tags=["outside-meetings"]),
    create=extend_schema(summary="Record a meeting the patient went to outside the clinic", tags=["outside-meetings"]),
)
class OutsideMeetingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClinicScopedViewSet):
    read_scopes = ("schedule:read",)
    write_scopes = ("attendance:write",)
    serializer_class = OutsideMeetingSerializer
    filterset_class = OutsideMeetingFilter

    def select(self, clinic: Clinic) -> QuerySet[OutsideMeeting]:
        return outside_meeting_list(clinic=clinic)

    @idempotent
    def create(self, request: Request) -> Response:
        return self.created(outside_meeting_record(by=self.caller, **self.validated()))
