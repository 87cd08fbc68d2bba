"""`/api/v1/medication-events/`: medication-assisted treatment events (doses, take-home supplies,
injections, missed doses)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema_view
from rest_framework import serializers

from aftercare.api.fields import patient_field
from aftercare.api.records.base import (
    RECORD_DAY,
    RECORD_EXTRA_KWARGS,
    RECORD_READ_ONLY,
    RecordFilterMixin,
    RecordViewSet,
    external_id_field,
    record_schema,
    upsert_documented,
)
from aftercare.models import Medication, MedicationEvent, MedicationEventKind
from aftercare.models.records import TAKE_HOME_MAX_DAYS
from aftercare.selectors.records import medication_event_list
from aftercare.services.records import medication_event_create, medication_event_update, medication_event_upsert
from clinic.api.filters import StrictFilterSet
from clinic.api.serializers import CalendarDateField, FastReadMixin
from clinic.models import Clinic


class MedicationEventSerializer(FastReadMixin, serializers.ModelSerializer[MedicationEvent]):
    patient = patient_field()
    external_id = external_id_field()
    medication = serializers.ChoiceField(choices=Medication.choices)
    kind = serializers.ChoiceField(
        choices=MedicationEventKind.choices,
        help_text=(
            "dose_observed: a dose given or taken under observation; take_home_dispensed: a take-home supply "
            "(needs days_covered); injection_given: extended-release naltrexone only; dose_missed."
        ),
    )
    occurred_on = CalendarDateField(**RECORD_DAY, help_text="The dosing day (clinic calendar); not later than today.")
    days_covered = serializers.IntegerField(
        min_value=1,
        max_value=TAKE_HOME_MAX_DAYS,
        required=False,
        allow_null=True,
        help_text=f"Take-home supplies only, and required for them: the days covered (1 to {TAKE_HOME_MAX_DAYS}).",
    )
    dose_mg = serializers.DecimalField(
        max_digits=7,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
        allow_null=True,
        help_text="The dose in milligrams, when known.",
    )

    class Meta:
        model = MedicationEvent
        fields = [
            "id",
            "patient",
            "external_id",
            "medication",
            "kind",
            "occurred_on",
            "days_covered",
            "dose_mg",
            "notes",
            *RECORD_READ_ONLY[1:],
        ]
        read_only_fields = RECORD_READ_ONLY
        extra_kwargs: ClassVar[dict[str, dict[str, Any]]] = RECORD_EXTRA_KWARGS
        # One event per patient, medication, kind and day, and external_id unique per clinic: the
        # database's rules, which the service names (`occurred_on`, `external_id`).
        validators: ClassVar[list[Any]] = []


class MedicationEventFilter(RecordFilterMixin, StrictFilterSet):
    medication = django_filters.MultipleChoiceFilter(choices=Medication.choices)
    kind = django_filters.MultipleChoiceFilter(choices=MedicationEventKind.choices)
    occurred_after = django_filters.DateFilter(
        field_name="occurred_on", lookup_expr="gte", help_text="On or after this dosing day (YYYY-MM-DD)."
    )
    occurred_before = django_filters.DateFilter(
        field_name="occurred_on", lookup_expr="lt", help_text="Before this dosing day (YYYY-MM-DD)."
    )

    class Meta:
        model = MedicationEvent
        fields = [
            "patient",
            "medication",
            "kind",
            "occurred_after",
            "occurred_before",
            "entered_in_error",
            "updated_since",
        ]


@extend_schema_view(
    **record_schema(
        tag="medication-events",
        noun="medication event",
        plural="medication events",
        serializer=MedicationEventSerializer,
        create="Record a medication event (dose observed, take-home dispensed, injection given, dose missed)",
    )
)
class MedicationEventViewSet(RecordViewSet):
    read_scopes = ("medication:read",)
    write_scopes = ("medication:write",)
    serializer_class = MedicationEventSerializer
    filterset_class = MedicationEventFilter
    ordering_fields = ("created_at", "updated_at", "occurred_on")
    replace_defaults: ClassVar[dict[str, Any]] = {"days_covered": None, "dose_mg": None, "notes": ""}

    def select(self, clinic: Clinic) -> QuerySet[MedicationEvent]:
        return medication_event_list(clinic=clinic)

    upsert = upsert_documented(tag="medication-events", noun="medication event", serializer=MedicationEventSerializer)

    def record_create(self, **fields: Any) -> MedicationEvent:
        return medication_event_create(by=self.caller, **fields)

    def record_update(self, record: Any, **fields: Any) -> MedicationEvent:
        return medication_event_update(event=record, by=self.caller, **fields)

    def record_upsert(self, external_id: str, **fields: Any) -> tuple[MedicationEvent, bool]:
        return medication_event_upsert(by=self.caller, external_id=external_id, **fields)
