"""`/api/v1/reminders/`: what was and will be sent, read-only."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers

from aftercare.models import Reminder, ReminderStatus
from clinic.api.filters import FilterBackend, InstantFilter, StrictFilterSet, UpdatedSinceFilter
from clinic.api.serializers import FastReadMixin
from clinic.api.views import ClinicScopedViewSet
from clinic.models import Clinic


class ReminderSerializer(FastReadMixin, serializers.ModelSerializer[Reminder]):
    class Meta:
        model = Reminder
        fields = [
            "id",
            "patient",
            "kind",
            "appointment",
            "group_session",
            "offset_minutes",
            "starts_at",
            "send_at",
            "status",
            "attempts",
            "sent_at",
            "provider_message_id",
            "last_error",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ReminderFilter(StrictFilterSet):
    patient = django_filters.UUIDFilter(field_name="patient_id")
    appointment = django_filters.UUIDFilter(field_name="appointment_id")
    status = django_filters.MultipleChoiceFilter(choices=ReminderStatus.choices)
    send_after = InstantFilter(field_name="send_at", lookup_expr="gte", help_text="Due at or after (RFC 3339).")
    send_before = InstantFilter(field_name="send_at", lookup_expr="lt", help_text="Due before (RFC 3339).")
    updated_since = UpdatedSinceFilter()

    class Meta:
        model = Reminder
        fields = ["patient", "appointment", "status", "send_after", "send_before", "updated_since"]


@extend_schema_view(
    list=extend_schema(summary="List reminders", tags=["reminders"]),
    retrieve=extend_schema(summary="Read a reminder", tags=["reminders"]),
)
class ReminderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClinicScopedViewSet):
    read_scopes = ("schedule:read",)
    serializer_class = ReminderSerializer
    filterset_class = ReminderFilter
    filter_backends = [FilterBackend]
    ordering_fields = ("created_at", "updated_at", "send_at")

    def select(self, clinic: Clinic) -> QuerySet[Reminder]:
        return Reminder.objects.filter(clinic=clinic)
