"""`/api/v1/check-ins/`: patients' check-ins and their answers, read-only (`checkins:read`).

The answers are clinical detail a patient gave in confidence (craving, mood, use): front desk
never holds the scope, and every read is in the access log as any other endpoint's."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers

from aftercare.models import CheckIn, CheckInResponse, CheckInStatus
from aftercare.selectors.checkins import checkin_list
from clinic.api.filters import FilterBackend, StrictFilterSet, UpdatedSinceFilter
from clinic.api.serializers import FastReadMixin
from clinic.api.views import ClinicScopedViewSet
from clinic.models import Clinic


class CheckInAnswersSerializer(serializers.ModelSerializer[CheckInResponse]):
    """The answers, one field per item (past 7 days; days items 0-7, scale items 0-4), and the
    scores the risk rules read (aftercare/checkins/instrument.py documents them)."""

    class Meta:
        model = CheckInResponse
        fields = [
            "instrument",
            "answered_at",
            "use_days",
            "craving",
            "sleep_trouble_days",
            "low_mood_days",
            "anxious_days",
            "angry_days",
            "confidence",
            "support",
            "meeting_days",
            "wants_call",
            "risk_score",
            "protective_score",
        ]
        read_only_fields = fields


class CheckInSerializer(FastReadMixin, serializers.ModelSerializer[CheckIn]):
    answers = CheckInAnswersSerializer(
        source="response", read_only=True, allow_null=True, help_text="Null until the check-in is answered."
    )

    class Meta:
        model = CheckIn
        fields = [
            "id",
            "patient",
            "plan",
            "due_on",
            "send_at",
            "status",
            "attempts",
            "sent_at",
            "expires_at",
            "answered_at",
            "last_error",
            "answers",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class CheckInFilter(StrictFilterSet):
    patient = django_filters.UUIDFilter(field_name="patient_id")
    status = django_filters.MultipleChoiceFilter(choices=CheckInStatus.choices)
    updated_since = UpdatedSinceFilter()

    class Meta:
        model = CheckIn
        fields = ["patient", "status", "updated_since"]


@extend_schema_view(
    list=extend_schema(summary="List check-ins with their answers", tags=["check-ins"]),
    retrieve=extend_schema(summary="Read a check-in and its answers", tags=["check-ins"]),
)
class CheckInViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClinicScopedViewSet):
    read_scopes = ("checkins:read",)
    serializer_class = CheckInSerializer
    filterset_class = CheckInFilter
    filter_backends = [FilterBackend]
    ordering_fields = ("created_at", "updated_at", "due_on")

    def select(self, clinic: Clinic) -> QuerySet[CheckIn]:
        return checkin_list(clinic=clinic)
