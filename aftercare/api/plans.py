"""`/api/v1/plans/`: aftercare plans with their structured parts; lifecycle as sub-resources."""

from __future__ import annotations

from typing import Any, ClassVar

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from aftercare.api.fields import patient_field
from aftercare.models import AftercarePlan, PlanActivity, PlanStatus, TriggerCategory
from aftercare.models.choices import PLAN_CREATION_STATUSES
from aftercare.selectors.schedule import plan_list
from aftercare.services.plans import ACTIVITY_FIELDS, PLAN_FIELDS, plan_create, plan_transition, plan_update
from clinic.api.choices import ReadWriteChoiceField
from clinic.api.filters import StrictFilterSet, UpdatedSinceFilter
from clinic.api.idempotency import idempotent
from clinic.api.phones import CONTACT_PHONE
from clinic.api.serializers import YEAR, CalendarDateField, FastReadMixin, StrictCharField, StrictTextField
from clinic.api.views import ClinicScopedViewSet
from clinic.models import Clinic

# A plan's dates: an EHR may bring a plan begun years ago; one set far ahead is a typo.
PLAN_WINDOW: dict[str, Any] = {"past": 10 * YEAR, "future": 5 * YEAR}


class ContactSerializer(serializers.Serializer[Any]):
    name = StrictCharField(max_length=200)
    relationship = StrictCharField(max_length=100, required=False, allow_blank=True, default="")
    phone = StrictCharField(max_length=32, validators=[CONTACT_PHONE])


class SponsorSerializer(serializers.Serializer[Any]):
    name = StrictCharField(max_length=200)
    phone = StrictCharField(max_length=32, validators=[CONTACT_PHONE])


class TriggerSerializer(serializers.Serializer[Any]):
    category = serializers.ChoiceField(choices=TriggerCategory.choices)
    description = StrictCharField(max_length=300, required=False, allow_blank=True, default="")


class EmergencyPlanSerializer(serializers.Serializer[Any]):
    """Who to call, where to go, what to do when a craving or a crisis comes."""

    contacts = ContactSerializer(many=True, required=False, default=list, max_length=10)  # type: ignore[call-arg]
    where_to_go = StrictTextField(max_length=500, required=False, allow_blank=True, default="")
    what_to_do = StrictTextField(max_length=2000, required=False, allow_blank=True, default="")


class PlanActivitySerializer(serializers.ModelSerializer[PlanActivity]):
    id = serializers.UUIDField(required=False, help_text="Give it to update that activity; leave it out to add one.")

    class Meta:
        model = PlanActivity
        fields = ["id", *ACTIVITY_FIELDS]
        extra_kwargs: ClassVar[dict[str, dict[str, Any]]] = {
            "frequency_count": {"min_value": 1, "max_value": 31},
            # Years of maintenance treatment are common; a start far ahead is a typo.
            "medication_started_on": {"past": 50 * YEAR, "future": YEAR},
        }


class PlanSerializer(FastReadMixin, serializers.ModelSerializer[AftercarePlan]):
    patient = patient_field()
    warning_signs = serializers.ListField(
        child=StrictCharField(max_length=300), required=False, max_length=50, help_text="Personal red flags."
    )
    coping_strategies = serializers.ListField(child=StrictCharField(max_length=300), required=False, max_length=50)
    triggers = TriggerSerializer(many=True, required=False, max_length=50)  # type: ignore[call-arg]
    emergency_plan = EmergencyPlanSerializer(required=False)
    support_persons = ContactSerializer(many=True, required=False, max_length=20)  # type: ignore[call-arg]
    sponsor = SponsorSerializer(required=False, allow_null=True)
    activities = PlanActivitySerializer(many=True, required=False, max_length=30)  # type: ignore[call-arg]
    status = ReadWriteChoiceField(
        choices=PLAN_CREATION_STATUSES,
        read_choices=PlanStatus.choices,
        required=False,
        help_text=(
            "Any of the four statuses reads back. A new plan is 'draft' (the default) or 'active'; after "
            "that the status changes only through activate/, complete/ and discontinue/."
        ),
    )

    class Meta:
        model = AftercarePlan
        fields = ["id", "patient", "status", *PLAN_FIELDS, "activities", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs: ClassVar[dict[str, dict[str, Any]]] = {"start_date": PLAN_WINDOW, "end_date": PLAN_WINDOW}
        # One active plan per patient is the database's rule (and the service's 400 naming
        # `status`); DRF's validator for that constraint would demand `status` in every body.
        validators: ClassVar[list[Any]] = []

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("start_date"), attrs.get("end_date")
        if self.instance is not None:
            start = attrs.get("start_date", self.instance.start_date)
            end = attrs.get("end_date", self.instance.end_date)
        if start and end and end < start:
            raise serializers.ValidationError({"end_date": "Must not be before start_date."})
        return attrs


class PlanTransitionSerializer(serializers.Serializer[Any]):
    date = CalendarDateField(
        required=False,
        past=2 * YEAR,
        future=YEAR,
        help_text="Start date (activate) or end date (complete, discontinue); default today.",
    )


class PlanFilter(StrictFilterSet):
    # A plain UUID filter: a model-choice filter would tell another clinic's ids from unknown ones.
    patient = django_filters.UUIDFilter(field_name="patient_id")
    status = django_filters.MultipleChoiceFilter(choices=PlanStatus.choices)
    updated_since = UpdatedSinceFilter()

    class Meta:
        model = AftercarePlan
        fields = ["patient", "status", "updated_since"]


@extend_schema_view(
    list=extend_schema(summary="List aftercare plans", tags=["plans"]),
    retrieve=extend_schema(summary="Read a plan with its structured parts", tags=["plans"]),
    create=extend_schema(summary="Create a plan (draft or active)", tags=["plans"]),
    update=extend_schema(summary="Replace a plan's content", tags=["plans"]),
    partial_update=extend_schema(summary="Change parts of a plan", tags=["plans"]),
)
class PlanViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClinicScopedViewSet):
    read_scopes = ("plans:read",)
    write_scopes = ("plans:write",)
    conflict_actions = frozenset({"create", "update", "partial_update", "activate", "complete", "discontinue"})
    serializer_class = PlanSerializer
    filterset_class = PlanFilter

    def select(self, clinic: Clinic) -> QuerySet[AftercarePlan]:
        return plan_list(clinic=clinic)

    def _read(self, plan: AftercarePlan, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=plan.pk)
        return Response(self.get_serializer(fresh).data, status=status_code)

    @idempotent
    def create(self, request: Request) -> Response:
        fields = self.validated()
        patient = fields.pop("patient")
        activities = [dict(item) for item in fields.pop("activities", [])]
        plan = plan_create(patient=patient, by=self.caller, activities=activities, **fields)
        return self._read(plan, status.HTTP_201_CREATED)

    def update(self, request: Request, pk: str, partial: bool = False) -> Response:
        plan = self.get_object()
        fields = self.validated(instance=plan, partial=partial)
        if "patient" in fields and fields.pop("patient") != plan.patient:
            raise serializers.ValidationError({"patient": ["A plan cannot move to another patient."]})
        if "status" in fields and fields.pop("status") != plan.status:
            raise serializers.ValidationError({"status": ["Use activate/, complete/ or discontinue/ to change it."]})
        activities = fields.pop("activities", None)
        plan = plan_update(
            plan=plan, activities=[dict(item) for item in activities] if activities is not None else None, **fields
        )
        return self._read(plan)

    def partial_update(self, request: Request, pk: str) -> Response:
        return self.update(request, pk, partial=True)

    def _transition(self, request: Request, pk: str, to: str) -> Response:
        plan = self.get_object()
        body = self.validated(PlanTransitionSerializer)
        return self._read(plan_transition(plan=plan, to=to, on=body.get("date")))

    @extend_schema(
        summary="Activate a draft plan (one active plan per patient)", request=PlanTransitionSerializer, tags=["plans"]
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def activate(self, request: Request, pk: str) -> Response:
        return self._transition(request, pk, PlanStatus.ACTIVE)

    @extend_schema(summary="Complete an active plan", request=PlanTransitionSerializer, tags=["plans"])
    @action(detail=True, methods=["post"])
    @idempotent
    def complete(self, request: Request, pk: str) -> Response:
        return self._transition(request, pk, PlanStatus.COMPLETED)

    @extend_schema(summary="Discontinue a plan", request=PlanTransitionSerializer, tags=["plans"])
    @action(detail=True, methods=["post"])
    @idempotent
    def discontinue(self, request: Request, pk: str) -> Response:
        return self._transition(request, pk, PlanStatus.DISCONTINUED)
