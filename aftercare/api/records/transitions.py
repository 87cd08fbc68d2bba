"""`/api/v1/care-transitions/`: steps into and out of this clinic's aftercare."""

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
from aftercare.models import CareTransition, LevelOfCare, TransitionDirection
from aftercare.selectors.records import care_transition_list
from aftercare.services.records import care_transition_create, care_transition_update, care_transition_upsert
from clinic.api.filters import StrictFilterSet
from clinic.api.serializers import CalendarDateField, FastReadMixin
from clinic.models import Clinic


class CareTransitionSerializer(FastReadMixin, serializers.ModelSerializer[CareTransition]):
    patient = patient_field()
    external_id = external_id_field()
    direction = serializers.ChoiceField(
        choices=TransitionDirection.choices,
        help_text="entered_aftercare: stepped down into this clinic's aftercare; discharged: left it.",
    )
    level_of_care = serializers.ChoiceField(
        choices=LevelOfCare.choices, help_text="The level of care on the other side of the transition."
    )
    occurred_on = CalendarDateField(
        **RECORD_DAY, help_text="The day of the transition (clinic calendar); not later than today."
    )

    class Meta:
        model = CareTransition
        fields = [
            "id",
            "patient",
            "external_id",
            "direction",
            "level_of_care",
            "occurred_on",
            "source",
            "notes",
            *RECORD_READ_ONLY[1:],
        ]
        read_only_fields = RECORD_READ_ONLY
        extra_kwargs: ClassVar[dict[str, dict[str, Any]]] = {
            **RECORD_EXTRA_KWARGS,
            "source": {"help_text": "Where from or where to, e.g. the facility's name; optional."},
        }
        validators: ClassVar[list[Any]] = []  # external_id is unique per clinic: the service names it


class CareTransitionFilter(RecordFilterMixin, StrictFilterSet):
    direction = django_filters.MultipleChoiceFilter(choices=TransitionDirection.choices)
    level_of_care = django_filters.MultipleChoiceFilter(choices=LevelOfCare.choices)
    occurred_after = django_filters.DateFilter(
        field_name="occurred_on", lookup_expr="gte", help_text="On or after this day (YYYY-MM-DD)."
    )
    occurred_before = django_filters.DateFilter(
        field_name="occurred_on", lookup_expr="lt", help_text="Before this day (YYYY-MM-DD)."
    )

    class Meta:
        model = CareTransition
        fields = [
            "patient",
            "direction",
            "level_of_care",
            "occurred_after",
            "occurred_before",
            "entered_in_error",
            "updated_since",
        ]


@extend_schema_view(
    **record_schema(
        tag="care-transitions",
        noun="care transition",
        plural="care transitions",
        serializer=CareTransitionSerializer,
        create="Record a care transition (a step down into aftercare, or a discharge)",
    )
)
class CareTransitionViewSet(RecordViewSet):
    read_scopes = ("transitions:read",)
    write_scopes = ("transitions:write",)
    serializer_class = CareTransitionSerializer
    filterset_class = CareTransitionFilter
    ordering_fields = ("created_at", "updated_at", "occurred_on")
    replace_defaults: ClassVar[dict[str, Any]] = {"source": "", "notes": ""}

    def select(self, clinic: Clinic) -> QuerySet[CareTransition]:
        return care_transition_list(clinic=clinic)

    upsert = upsert_documented(tag="care-transitions", noun="care transition", serializer=CareTransitionSerializer)

    def record_create(self, **fields: Any) -> CareTransition:
        return care_transition_create(by=self.caller, **fields)

    def record_update(self, record: Any, **fields: Any) -> CareTransition:
        return care_transition_update(transition=record, by=self.caller, **fields)

    def record_upsert(self, external_id: str, **fields: Any) -> tuple[CareTransition, bool]:
        return care_transition_upsert(by=self.caller, external_id=external_id, **fields)
