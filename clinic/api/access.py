"""`/api/v1/access-events/`: the access log, for the clinic's admins and auditors (and integration
clients granted `audit:read`), filtered by patient, actor, action and time, and exported as CSV."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.request import Request

from clinic.api.filters import FilterBackend, InstantFilter, StrictFilterSet
from clinic.api.pagination import CursorPagination
from clinic.api.views import ClinicScopedViewSet
from clinic.models import AccessAction, AccessEvent, Clinic
from clinic.replica import reads_from_replica
from clinic.selectors.access import (
    CSV_COLUMNS,
    NEWEST_FIRST,
    access_event_list,
    access_events_by,
    access_events_csv,
    access_events_touching,
)

COLUMNS = CSV_COLUMNS

EXPORT_DESCRIPTION = (
    "Every event the filters match, oldest first, streamed however many there are. The last line is "
    "`# rows=<N> sha256=<hex>`: N is the number of CSV records after the header and hex the SHA-256 of "
    "every byte before that line. A file without that line, or whose count or checksum does not match, "
    "is incomplete (the transfer was cut): ask again. `manage.py verify_access_export <file>` checks one."
)


class AccessEventSerializer(serializers.ModelSerializer[AccessEvent]):
    class Meta:
        model = AccessEvent
        fields = COLUMNS
        read_only_fields = COLUMNS


class AccessEventFilter(StrictFilterSet):
    patient = django_filters.UUIDFilter(
        field_name="patient_ids", lookup_expr="contains", method="filter_patient",
        help_text="Events that touched this patient's records.",
    )  # fmt: skip
    actor = django_filters.CharFilter(method="filter_actor", help_text="`user:<id>` or `client:<id>`.")
    action = django_filters.MultipleChoiceFilter(choices=AccessAction.choices)
    since = InstantFilter(field_name="at", lookup_expr="gte", help_text="At or after this instant (RFC 3339).")
    until = InstantFilter(field_name="at", lookup_expr="lt", help_text="Before this instant (RFC 3339).")

    class Meta:
        model = AccessEvent
        fields = ["patient", "actor", "action", "since", "until"]

    def filter_patient(self, queryset: QuerySet[AccessEvent], name: str, value: Any) -> QuerySet[AccessEvent]:
        return access_events_touching(queryset, [value])

    def filter_actor(self, queryset: QuerySet[AccessEvent], name: str, value: str) -> QuerySet[AccessEvent]:
        return access_events_by(queryset, value)


class AccessEventPagination(CursorPagination):
    ordering = NEWEST_FIRST


@extend_schema(tags=["access-log"])
@extend_schema_view(list=extend_schema(summary="Who read or changed which records (newest first)"))
class AccessEventViewSet(mixins.ListModelMixin, ClinicScopedViewSet):
    read_scopes = ("audit:read",)
    serializer_class = AccessEventSerializer
    filterset_class = AccessEventFilter
    filter_backends = [FilterBackend]
    pagination_class = AccessEventPagination
    ordering_fields = ()  # newest first, always: the log is append-only
    access_patient_key = None
    access_actions = {"export": AccessAction.EXPORT}

    def select(self, clinic: Clinic) -> QuerySet[AccessEvent]:
        return access_event_list(clinic=clinic)

    def accessed(self, data: Any) -> tuple[list[Any], list[Any]]:
        # What was read is the log itself; the patient an auditor asked about is worth recording.
        patient = self.request.query_params.get("patient")
        return [], [patient] if patient else []

    @extend_schema(
        summary="The access log as CSV, with the same filters",
        description=EXPORT_DESCRIPTION,
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="One row per event, oldest first, then the `# rows=… sha256=…` line."
            )
        },
    )
    # A bulk read of an append-only log: a replica's work when there is one (clinic.replica).
    @reads_from_replica
    @action(detail=False, methods=["get"], pagination_class=None)
    def export(self, request: Request) -> StreamingHttpResponse:
        events = self.filter_queryset(self.get_queryset())
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        return StreamingHttpResponse(
            access_events_csv(events),
            content_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="access-log-{stamp}.csv"'},
        )
