"""`/api/v1/appointment-series/`: recurring appointments at a local wall-clock time."""

from __future__ import annotations

import datetime
import re
from typing import Any, ClassVar

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
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

_WALL_CLOCK = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?")


@extend_schema_field(
    {
        "type": "string",
        "pattern": f"^{_WALL_CLOCK.pattern}$",
        "example": "17:30",
        "description": "Local wall-clock time in the series' time zone, HH:MM or HH:MM:SS, without an offset.",
    }
)
class WallClockTimeField(serializers.TimeField):
    """A time of day on the wall clock of the series' zone. OpenAPI's `format: time` is RFC 3339's
    full-time, which carries an offset: this is not that, and an offset sent here is refused rather
    than dropped (the zone is `time_zone`)."""

    default_error_messages = {"invalid": "Give a local time as HH:MM or HH:MM:SS, without an offset."}

    def to_internal_value(self, value: Any) -> datetime.time:
        if not isinstance(value, str) or not _WALL_CLOCK.fullmatch(value):
            self.fail("invalid")
        return datetime.time.fromisoformat(value)

    def to_representation(self, value: Any) -> str:
        return value.isoformat(timespec="minutes" if value.second == 0 else "seconds")  # type: ignore[no-any-return]


class SeriesSerializer(ClinicianByEitherIdMixin, serializers.ModelSerializer[AppointmentSeries]):
    patient = patient_field()
    local_start_time = WallClockTimeField()
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
        extra_kwargs: ClassVar[dict[str, dict[str, Any]]] = {"starts_on": SESSION_WINDOW}

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
    ended_on = CalendarDateField(**SESSION_WINDOW, help_text="The last date that may have an occurrence.")


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
