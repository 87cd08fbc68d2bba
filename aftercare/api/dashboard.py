"""`/api/v1/dashboard/summary/` and `/api/v1/dashboard/caseload/`: what a clinician looks at first.

Both read their selectors (`aftercare.selectors.summary`, `aftercare.selectors.caseload`; the
dashboard's caseload page reads the same one) and answer in a fixed number of queries whatever the
clinic's or the caseload's size.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from aftercare.api.fields import clinician_external_id_field
from aftercare.models import Severity
from aftercare.selectors.caseload import caseload_list, caseload_rows, hashed_ranking
from aftercare.selectors.summary import clinic_summary
from clinic.api.pagination import SelectorOrderPagination
from clinic.api.serializers import StrictCharField
from clinic.api.views import ClinicScopedViewSet
from clinic.models import Clinic, Patient


class SeverityCountsSerializer(serializers.Serializer[Any]):
    high = serializers.IntegerField()
    medium = serializers.IntegerField()
    low = serializers.IntegerField()


class SummarySerializer(serializers.Serializer[Any]):
    open_flags = SeverityCountsSerializer(help_text="Open or acknowledged flags, by severity.")
    sessions_today = serializers.IntegerField(help_text="Appointments today (clinic time), not cancelled.")
    attendance_rate_30d = serializers.FloatField(
        allow_null=True, help_text="Attended / (attended + missed) over the last 30 days; null without any."
    )
    attended_30d = serializers.IntegerField()
    missed_30d = serializers.IntegerField()


class CaseloadFlagSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    rule = StrictCharField()
    severity = StrictCharField()
    status = StrictCharField()
    condition_met = serializers.BooleanField()
    raised_at = serializers.DateTimeField()


class CaseloadEntrySerializer(serializers.Serializer[Any]):
    patient = serializers.UUIDField(source="patient.pk")
    given_name = StrictCharField(source="patient.given_name")
    family_name = StrictCharField(source="patient.family_name")
    risk = serializers.ChoiceField(choices=Severity.choices, allow_null=True, help_text="Highest open severity.")
    open_flags = CaseloadFlagSerializer(many=True)
    last_attended = serializers.DateTimeField(allow_null=True, help_text="Appointments and group sessions.")
    next_session = serializers.DateTimeField(
        allow_null=True, help_text="The next appointment, or session of a group the patient belongs to."
    )
    attendance_rate_30d = serializers.FloatField(
        allow_null=True, help_text="Attended / (attended + missed), appointments and group sessions, last 30 days."
    )


class CaseloadQuerySerializer(serializers.Serializer[Any]):
    clinician = serializers.UUIDField(
        required=False, help_text="Whose caseload (default: the signed-in clinician; required for integration clients)."
    )
    clinician_external_id = clinician_external_id_field()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "clinician_external_id" in attrs:
            if "clinician" in attrs:
                raise serializers.ValidationError(
                    {"clinician_external_id": ["Give either clinician or clinician_external_id, not both."]}
                )
            attrs["clinician"] = attrs.pop("clinician_external_id").pk
        return attrs


class DashboardViewSet(ClinicScopedViewSet):
    read_scopes = ("flags:read", "patients:read", "schedule:read")
    pagination_class = None
    filter_backends: list[Any] = []
    ordering_fields = ()
    serializer_class = SummarySerializer
    extra_validation_errors = {
        "caseload": {"clinician": {"invalid"}, "clinician_external_id": {"does_not_exist", "invalid"}}
    }

    def select(self, clinic: Clinic) -> QuerySet[Patient]:
        return Patient.objects.filter(clinic=clinic)

    @extend_schema(summary="Open flags, today's sessions and the 30-day attendance rate", tags=["dashboard"])
    @action(detail=False, methods=["get"])
    def summary(self, request: Request) -> Response:
        summary = clinic_summary(clinic=self.caller.clinic)
        data = {
            "open_flags": summary.open_flags,
            "sessions_today": summary.sessions_today,
            "attendance_rate_30d": summary.attendance_rate_30d,
            "attended_30d": summary.attended_30d,
            "missed_30d": summary.missed_30d,
        }
        return Response(SummarySerializer(data).data)

    @extend_schema(
        summary="A clinician's patients, most at risk first",
        description=(
            "Active patients, discharged patients still inside the post-discharge watch window "
            "(the clinic's `post_discharge_gap` `watch_days`), and anyone with an open or acknowledged flag. "
            "Ordered as the dashboard's caseload page: highest open severity, most open flags, longest since "
            "an attended session, then by name; paged by cursor."
        ),
        parameters=[
            OpenApiParameter(
                "clinician",
                OpenApiTypes.UUID,
                OpenApiParameter.QUERY,
                description=(
                    "Whose caseload: a staff member's user id (or `clinician_external_id`). Required for "
                    "integration clients (without either the answer is 400 naming `clinician`); staff "
                    "default to themselves."
                ),
            ),
            OpenApiParameter(
                "clinician_external_id",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                description="Instead of `clinician`: the clinician's identifier in the EHR.",
            ),
        ],
        responses=CaseloadEntrySerializer(many=True),
        tags=["dashboard"],
    )
    @action(detail=False, methods=["get"], pagination_class=SelectorOrderPagination)
    def caseload(self, request: Request) -> Response:
        query = CaseloadQuerySerializer(data=request.query_params, context={"clinic": self.caller.clinic})
        query.is_valid(raise_exception=True)
        clinician = query.validated_data.get("clinician") or (self.caller.user.pk if self.caller.user else None)
        if clinician is None:
            raise serializers.ValidationError({"clinician": ["Integration clients name the clinician."]})
        clinic = self.caller.clinic
        with hashed_ranking():
            page = self.paginate_queryset(caseload_list(clinic=clinic, clinician=clinician))
        rows = caseload_rows(page, clinic=clinic)
        return self.get_paginated_response(CaseloadEntrySerializer(rows, many=True).data)
