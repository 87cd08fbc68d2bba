"""`/api/v1/drug-screens/`: drug screens with their results, written together in one request."""

from __future__ import annotations

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
from aftercare.models import Analyte, DrugScreen, DrugScreenResult, ScreenResult, Specimen
from aftercare.selectors.records import drug_screen_list
from aftercare.services.records import ResultInput, drug_screen_create, drug_screen_update, drug_screen_upsert
from clinic.api.filters import StrictFilterSet
from clinic.api.serializers import CalendarDateField, StrictCharField
from clinic.models import Clinic


class DrugScreenResultSerializer(serializers.ModelSerializer[DrugScreenResult]):
    analyte = serializers.ChoiceField(choices=Analyte.choices)
    result = serializers.ChoiceField(choices=ScreenResult.choices)
    expected = serializers.BooleanField(
        required=False,
        allow_null=True,
        help_text=(
            "Whether the result is what the patient's medication-assisted treatment predicts. Leave it out "
            "to have it worked out from the active plan (methadone or buprenorphine positive is expected for "
            "a patient on it, negative is not; any other positive is unexpected); state it to override "
            "(a prescribed benzodiazepine)."
        ),
    )

    class Meta:
        model = DrugScreenResult
        fields = ["analyte", "result", "expected", "expected_stated"]
        read_only_fields = ["expected_stated"]
        extra_kwargs: ClassVar[dict[str, dict[str, Any]]] = {
            "expected_stated": {"help_text": "Whether `expected` was stated by whoever recorded it."},
        }
        validators: ClassVar[list[Any]] = []


class DrugScreenSerializer(serializers.ModelSerializer[DrugScreen]):
    patient = patient_field()
    external_id = external_id_field()
    collected_on = CalendarDateField(
        **RECORD_DAY, help_text="The day the specimen was collected (clinic calendar); not later than today."
    )
    specimen = serializers.ChoiceField(choices=Specimen.choices, default=Specimen.URINE)
    panel = StrictCharField(
        max_length=100, required=False, allow_blank=True, help_text='The panel run, e.g. "12-panel + fentanyl".'
    )
    # Not `results`: that is the list envelope's key, which the access log and ETags read as a page.
    analyte_results = DrugScreenResultSerializer(  # type: ignore[call-arg]
        source="results",
        many=True,
        required=False,
        max_length=len(Analyte.values),
        help_text="One result per analyte, each analyte once. On PATCH, replaces the screen's results.",
    )

    class Meta:
        model = DrugScreen
        fields = [
            "id",
            "patient",
            "external_id",
            "collected_on",
            "specimen",
            "panel",
            "notes",
            "analyte_results",
            *RECORD_READ_ONLY[1:],
        ]
        read_only_fields = RECORD_READ_ONLY
        extra_kwargs: ClassVar[dict[str, dict[str, Any]]] = RECORD_EXTRA_KWARGS
        validators: ClassVar[list[Any]] = []


class DrugScreenFilter(RecordFilterMixin, StrictFilterSet):
    specimen = django_filters.MultipleChoiceFilter(choices=Specimen.choices)
    collected_after = django_filters.DateFilter(
        field_name="collected_on", lookup_expr="gte", help_text="Collected on or after this day (YYYY-MM-DD)."
    )
    collected_before = django_filters.DateFilter(
        field_name="collected_on", lookup_expr="lt", help_text="Collected before this day (YYYY-MM-DD)."
    )

    class Meta:
        model = DrugScreen
        fields = ["patient", "specimen", "collected_after", "collected_before", "entered_in_error", "updated_since"]


@extend_schema_view(
    **record_schema(
        tag="drug-screens",
        noun="drug screen",
        plural="drug screens",
        serializer=DrugScreenSerializer,
        create="Record a drug screen with its results",
    )
)
class DrugScreenViewSet(RecordViewSet):
    read_scopes = ("screens:read",)
    write_scopes = ("screens:write",)
    serializer_class = DrugScreenSerializer
    filterset_class = DrugScreenFilter
    ordering_fields = ("created_at", "updated_at", "collected_on")
    replace_defaults: ClassVar[dict[str, Any]] = {"specimen": Specimen.URINE, "panel": "", "notes": "", "results": []}

    def select(self, clinic: Clinic) -> QuerySet[DrugScreen]:
        return drug_screen_list(clinic=clinic)

    def service_fields(self, body: dict[str, Any]) -> dict[str, Any]:
        # Validated under the field's source, `results` (the model's related name).
        fields = dict(body)
        if "results" in fields:
            fields["analyte_results"] = [ResultInput(**item) for item in fields.pop("results")]
        return fields

    upsert = upsert_documented(tag="drug-screens", noun="drug screen", serializer=DrugScreenSerializer)

    def record_create(self, **fields: Any) -> DrugScreen:
        return drug_screen_create(by=self.caller, **fields)

    def record_update(self, record: Any, **fields: Any) -> DrugScreen:
        return drug_screen_update(screen=record, by=self.caller, **fields)

    def record_upsert(self, external_id: str, **fields: Any) -> tuple[DrugScreen, bool]:
        return drug_screen_upsert(by=self.caller, external_id=external_id, **fields)
