"""`/api/v1/outreach-attempts/`: the outreach log, each attempt to reach a patient (read and append)."""

from __future__ import annotations

from typing import Any, ClassVar

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from aftercare.api.fields import patient_field
from aftercare.models import OutreachAttempt, OutreachChannel, OutreachOutcome, RiskFlag
from aftercare.selectors.outreach import outreach_list
from aftercare.services.outreach import NOTE_MAX_LENGTH, outreach_record
from clinic.api.filters import StrictFilterSet, UpdatedSinceFilter
from clinic.api.idempotency import idempotent
from clinic.api.serializers import YEAR, CalendarDateField, ClinicRelatedField, FastReadMixin
from clinic.api.views import ClinicScopedViewSet
from clinic.models import Clinic


def flag_field(**kwargs: Any) -> ClinicRelatedField:
    kwargs.setdefault("help_text", "A risk flag of the same patient, when the attempt was about it.")
    return ClinicRelatedField(
        scoped=lambda clinic: RiskFlag.objects.filter(clinic=clinic), queryset=RiskFlag.objects.all(), **kwargs
    )


class OutreachAttemptSerializer(FastReadMixin, serializers.ModelSerializer[OutreachAttempt]):
    patient = patient_field()
    flag = flag_field(required=False, allow_null=True)
    channel = serializers.ChoiceField(choices=OutreachChannel.choices)
    outcome = serializers.ChoiceField(choices=OutreachOutcome.choices)
    follow_up_on = CalendarDateField(
        required=False,
        allow_null=True,
        past=2 * YEAR,
        future=2 * YEAR,
        help_text="When to try again (clinic calendar day); optional.",
    )

    class Meta:
        model = OutreachAttempt
        fields = [
            "id",
            "patient",
            "flag",
            "channel",
            "outcome",
            "note",
            "follow_up_on",
            "attempted_at",
            "by",
            "by_client",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "by", "by_client", "created_at", "updated_at"]
        extra_kwargs: ClassVar[dict[str, dict[str, Any]]] = {
            "note": {"max_length": NOTE_MAX_LENGTH},
            "attempted_at": {
                "required": False,
                "past": 2 * YEAR,
                "help_text": "When the attempt was made; default now, never later.",
            },
            "by": {"help_text": "The staff member who made the attempt (null when an integration client did)."},
            "by_client": {"help_text": "The integration client that logged the attempt (null when staff did)."},
        }


class OutreachAttemptFilter(StrictFilterSet):
    patient = django_filters.UUIDFilter(field_name="patient_id")
    flag = django_filters.UUIDFilter(field_name="flag_id")
    updated_since = UpdatedSinceFilter()

    class Meta:
        model = OutreachAttempt
        fields = ["patient", "flag", "channel", "outcome", "updated_since"]


@extend_schema_view(
    list=extend_schema(summary="List outreach attempts", tags=["outreach"]),
    retrieve=extend_schema(summary="Read an outreach attempt", tags=["outreach"]),
    create=extend_schema(
        summary="Log an attempt to reach a patient (phone, text, email, letter, in person)", tags=["outreach"]
    ),
)
class OutreachAttemptViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClinicScopedViewSet):
    read_scopes = ("outreach:read",)
    write_scopes = ("outreach:write",)
    serializer_class = OutreachAttemptSerializer
    filterset_class = OutreachAttemptFilter

    def select(self, clinic: Clinic) -> QuerySet[OutreachAttempt]:
        return outreach_list(clinic=clinic)

    @idempotent
    def create(self, request: Request) -> Response:
        body = self.validated()
        attempt = outreach_record(
            patient=body["patient"],
            flag=body.get("flag"),
            by=self.caller,
            channel=body["channel"],
            outcome=body["outcome"],
            note=body.get("note", ""),
            follow_up_on=body.get("follow_up_on"),
            attempted_at=body.get("attempted_at"),
        )
        return self.created(attempt)
