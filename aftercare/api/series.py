"""`/api/v1/appointment-series/`: recurring appointments at a local wall-clock time."""

from __future__ import annotations

from typing import Any

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from aftercare.api.fields import (
    ClinicianByEitherIdMixin,
    activity_field,
    clinician_external_id_field,
    clinician_field,
    patient_field,
)
from aftercare.models import AppointmentSeries
from aftercare.selectors.schedule import series_list
from aftercare.services.series import (
    EDITABLE_FIELDS,
    SERIES_FIELDS,
    parse_rrule,
    series_create,
    series_end,
    series_update,
)
from clinic.api.filters import StrictFilterSet, UpdatedSinceFilter
from clinic.api.idempotency import idempotent
from clinic.api.serializers import CalendarDateField, StrictCharField
from clinic.api.views import ClinicScopedViewSet
from clinic.models import Clinic, validate_time_zone


class SeriesSerializer(ClinicianByEitherIdMixin, serializers.ModelSerializer[AppointmentSeries]):
    patient = patient_field()
    clinician = clinician_field(required=False)
    clinician_external_id = clinician_external_id_field()
    activity = activity_field(required=False, allow_null=True)
    time_zone = StrictCharField(
        max_length=64, required=False, validators=[validate_time_zone], help_text="IANA zone; the clinic's by default."
    )
    rrule = StrictCharField(
        max_length=300,
        help_text="RFC 5545 RRULE without DTSTART, weekly only, e.g. FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;COUNT=12.",
    )
    duration_minutes = serializers.IntegerField(min_value=5, max_value=12 * 60)

    class Meta:
        model = AppointmentSeries
        fields = [
            "id",
            *SERIES_FIELDS,
            "clinician_external_id",
            "ended_on",
            "materialized_until",
            "skipped_dates",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "ended_on", "materialized_until", "skipped_dates", "created_at", "updated_at"]

    def validate_rrule(self, value: str) -> str:
        try:
            parse_rrule(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict["rrule"]) from None
        return value


class SeriesEditSerializer(SeriesSerializer):
    class Meta(SeriesSerializer.Meta):
        read_only_fields = [
            name for name in SeriesSerializer.Meta.fields if name not in (*EDITABLE_FIELDS, "clinician_external_id")
        ]


class SeriesEndSerializer(serializers.Serializer[Any]):
    ended_on = CalendarDateField(help_text="The last date that may have an occurrence.")


class SeriesFilter(StrictFilterSet):
    patient = django_filters.UUIDFilter(field_name="patient_id")
    clinician = django_filters.UUIDFilter(field_name="clinician_id")
    updated_since = UpdatedSinceFilter()

    class Meta:
        model = AppointmentSeries
        fields = ["patient", "clinician", "updated_since"]


@extend_schema_view(
    list=extend_schema(summary="List appointment series", tags=["appointment-series"]),
    retrieve=extend_schema(summary="Read a series", tags=["appointment-series"]),
    create=extend_schema(
        summary="Create a weekly series (occurrences are booked 90 days ahead)", tags=["appointment-series"]
    ),
    partial_update=extend_schema(
        summary="Change a series from now on (past occurrences stay as they were)",
        request=SeriesEditSerializer,
        tags=["appointment-series"],
    ),
)
class SeriesViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClinicScopedViewSet):
    read_scopes = ("schedule:read",)
    write_scopes = ("schedule:write",)
    http_method_names = ["get", "post", "patch", "head", "options"]
    serializer_class = SeriesSerializer
    filterset_class = SeriesFilter

    def select(self, clinic: Clinic) -> QuerySet[AppointmentSeries]:
        return series_list(clinic=clinic)

    @idempotent
    def create(self, request: Request) -> Response:
        return self.created(series_create(by=self.caller, **self.validated()))

    def partial_update(self, request: Request, pk: str) -> Response:
        series = self.get_object()
        fields = self.validated(SeriesEditSerializer, series, partial=True)
        return Response(self.get_serializer(series_update(series=series, **fields)).data)

    @extend_schema(
        summary="End a series",
        request=SeriesEndSerializer,
        responses={200: SeriesSerializer},
        tags=["appointment-series"],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def end(self, request: Request, pk: str) -> Response:
        series = self.get_object()
        return Response(self.get_serializer(series_end(series=series, **self.validated(SeriesEndSerializer))).data)
