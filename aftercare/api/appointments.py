"""`/api/v1/appointments/` and `/api/v1/appointments/{id}/attendance/`."""

from __future__ import annotations

from typing import Any, ClassVar

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from aftercare.api.fields import (
    SESSION_WINDOW,
    ClinicianByEitherIdMixin,
    activity_field,
    clinician_external_id_field,
    clinician_field,
    patient_field,
)
from aftercare.models import ActivityKind, Appointment, AttendanceRecord, AttendanceStatus
from aftercare.selectors.schedule import appointment_list, attendance_history
from aftercare.services.appointments import (
    BOOKING_FIELDS,
    MOVABLE_FIELDS,
    appointment_book,
    appointment_move,
    attendance_record,
)
from clinic.api.filters import FilterBackend, InstantFilter, StrictFilterSet, UpdatedSinceFilter
from clinic.api.idempotency import idempotent
from clinic.api.pagination import SelectorOrderPagination
from clinic.api.serializers import FastReadMixin, StrictTextField
from clinic.api.views import ClinicScopedViewSet
from clinic.models import Clinic


class AppointmentSerializer(ClinicianByEitherIdMixin, FastReadMixin, serializers.ModelSerializer[Appointment]):
    patient = patient_field()
    clinician = clinician_field(required=False)
    clinician_external_id = clinician_external_id_field()
    activity = activity_field(required=False, allow_null=True)

    class Meta:
        model = Appointment
        read_only_fields = [
            "id",
            "series",
            "occurrence_date",
            "detached",
            "attendance_status",
            "attendance_recorded_at",
            "attendance_recorded_by",
            "created_at",
            "updated_at",
        ]
        fields = [*BOOKING_FIELDS, "clinician_external_id", *read_only_fields]
        extra_kwargs: ClassVar[dict[str, dict[str, Any]]] = {"starts_at": SESSION_WINDOW, "ends_at": SESSION_WINDOW}


class AppointmentMoveSerializer(ClinicianByEitherIdMixin, serializers.ModelSerializer[Appointment]):
    clinician = clinician_field(required=False)
    clinician_external_id = clinician_external_id_field()

    class Meta:
        model = Appointment
        fields = [*MOVABLE_FIELDS, "clinician_external_id"]
        extra_kwargs: ClassVar[dict[str, dict[str, Any]]] = {
            "starts_at": {"required": False, **SESSION_WINDOW},
            "ends_at": {"required": False, **SESSION_WINDOW},
        }


class AttendanceInputSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=AttendanceStatus.choices)
    reason = StrictTextField(
        required=False,
        allow_blank=True,
        default="",
        max_length=1000,
        help_text="Required to correct a recorded status.",
    )


class AttendanceRecordSerializer(serializers.ModelSerializer[AttendanceRecord]):
    class Meta:
        model = AttendanceRecord
        fields = ["status", "previous_status", "recorded_at", "recorded_by", "recorded_by_client", "reason"]


class AppointmentFilter(StrictFilterSet):
    patient = django_filters.UUIDFilter(field_name="patient_id")
    clinician = django_filters.UUIDFilter(field_name="clinician_id")
    series = django_filters.UUIDFilter(field_name="series_id")
    kind = django_filters.MultipleChoiceFilter(choices=ActivityKind.choices)
    attendance_status = django_filters.MultipleChoiceFilter(choices=AttendanceStatus.choices)
    starts_after = InstantFilter(field_name="starts_at", lookup_expr="gte", help_text="Starts at or after (RFC 3339).")
    starts_before = InstantFilter(field_name="starts_at", lookup_expr="lt", help_text="Starts before (RFC 3339).")
    updated_since = UpdatedSinceFilter()

    class Meta:
        model = Appointment
        fields = [
            "patient",
            "clinician",
            "series",
            "kind",
            "attendance_status",
            "starts_after",
            "starts_before",
            "updated_since",
        ]


@extend_schema_view(
    list=extend_schema(summary="List appointments", tags=["appointments"]),
    retrieve=extend_schema(summary="Read an appointment", tags=["appointments"]),
    create=extend_schema(summary="Book an appointment", tags=["appointments"]),
    partial_update=extend_schema(
        summary="Move an appointment (time, clinician, place)",
        request=AppointmentMoveSerializer,
        responses={200: AppointmentSerializer},
        tags=["appointments"],
    ),
)
class AppointmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClinicScopedViewSet):
    read_scopes = ("schedule:read",)
    write_scopes = ("schedule:write",)
    conflict_actions = frozenset({"partial_update", "attendance"})
    action_scopes = {"attendance": {"GET": ("schedule:read",), "POST": ("attendance:write",)}}
    http_method_names = ["get", "post", "patch", "head", "options"]
    serializer_class = AppointmentSerializer
    filterset_class = AppointmentFilter
    filter_backends = [FilterBackend]
    ordering_fields = ("created_at", "updated_at", "starts_at")

    def select(self, clinic: Clinic) -> QuerySet[Appointment]:
        return appointment_list(clinic=clinic)

    @idempotent
    def create(self, request: Request) -> Response:
        return self.created(appointment_book(by=self.caller, **self.validated()))

    def partial_update(self, request: Request, pk: str) -> Response:
        appointment = self.get_object()
        fields = self.validated(AppointmentMoveSerializer, appointment, partial=True)
        return Response(self.get_serializer(appointment_move(appointment=appointment, **fields)).data)

    @extend_schema(
        methods=["GET"],
        summary="The attendance history",
        responses={200: AttendanceRecordSerializer(many=True)},
        tags=["appointments"],
    )
    @extend_schema(
        methods=["POST"],
        summary="Record or correct attendance",
        description=(
            "Outcomes (attended, late, missed, excused) only once the appointment has started; "
            "cancellations any time. Correcting a recorded status needs a `reason` and a clinical role "
            "(or an integration client); every change stays in the history."
        ),
        request=AttendanceInputSerializer,
        responses={200: AppointmentSerializer},
        tags=["appointments"],
    )
    @action(detail=True, methods=["get", "post"], pagination_class=SelectorOrderPagination, filterset_class=None)
    def attendance(self, request: Request, pk: str) -> Response:
        appointment = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(attendance_history(appointment=appointment))
            return self.get_paginated_response(AttendanceRecordSerializer(page, many=True).data)
        return self._record_attendance(request, appointment)

    @idempotent
    def _record_attendance(self, request: Request, appointment: Appointment) -> Response:
        fields = self.validated(AttendanceInputSerializer)
        appointment = attendance_record(appointment=appointment, by=self.caller, **fields)
        return Response(self.get_serializer(appointment).data)
