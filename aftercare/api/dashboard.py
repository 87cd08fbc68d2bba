"""`/api/v1/dashboard/summary/` and `/api/v1/dashboard/caseload/`: what a clinician looks at first.

Both answer in a fixed number of queries whatever the clinic's or the caseload's size: every
per-patient figure is a correlated subquery in one statement, and the open flags come in one more.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import (
    Case,
    Count,
    DateTimeField,
    F,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from aftercare.models import (
    ACTIVE_FLAG_STATUSES,
    SEVERITY_RANK,
    Appointment,
    AttendanceStatus,
    GroupAttendance,
    RiskFlag,
    Severity,
)
from clinic.api.serializers import StrictCharField
from clinic.api.views import ClinicScopedViewSet
from clinic.models import Clinic, Patient, PatientStatus

ATTENDED = (AttendanceStatus.ATTENDED, AttendanceStatus.LATE)
MISSED = (AttendanceStatus.MISSED, AttendanceStatus.LATE_CANCELLED)
NOT_HAPPENING = (AttendanceStatus.CANCELLED, AttendanceStatus.LATE_CANCELLED, AttendanceStatus.CANCELLED_BY_CLINIC)
WINDOW = datetime.timedelta(days=30)


def _scalar(queryset: QuerySet[Any], output: Any) -> Subquery:
    return Subquery(queryset[:1], output_field=output)


def _count(queryset: QuerySet[Any]) -> Coalesce:
    counted = queryset.order_by().values("patient_id").annotate(n=Count("pk")).values("n")
    return Coalesce(_scalar(counted, IntegerField()), Value(0))


def _rate(attended: int, missed: int) -> float | None:
    return round(attended / (attended + missed), 3) if attended + missed else None


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
    patient = serializers.UUIDField(source="pk")
    given_name = StrictCharField()
    family_name = StrictCharField()
    risk = serializers.ChoiceField(choices=Severity.choices, allow_null=True, help_text="Highest open severity.")
    open_flags = CaseloadFlagSerializer(many=True, source="active_flags")
    last_attended = serializers.DateTimeField(allow_null=True)
    next_session = serializers.DateTimeField(allow_null=True)
    attendance_rate_30d = serializers.FloatField(allow_null=True)


class CaseloadQuerySerializer(serializers.Serializer[Any]):
    clinician = serializers.UUIDField(
        required=False, help_text="Whose caseload (default: the signed-in clinician; required for integration clients)."
    )


_RANK_TO_SEVERITY = {rank: severity.value for severity, rank in SEVERITY_RANK.items()}


class DashboardViewSet(ClinicScopedViewSet):
    read_scopes = ("flags:read", "patients:read", "schedule:read")
    pagination_class = None
    filter_backends: list[Any] = []
    serializer_class = SummarySerializer
    extra_validation_errors = {"caseload": {"clinician": {"invalid"}}}

    def select(self, clinic: Clinic) -> QuerySet[Patient]:
        return Patient.objects.filter(clinic=clinic)

    @extend_schema(summary="Open flags, today's sessions and the 30-day attendance rate", tags=["dashboard"])
    @action(detail=False, methods=["get"])
    def summary(self, request: Request) -> Response:
        clinic = self.caller.clinic
        now = timezone.now()
        today = now.astimezone(clinic.zone).date()
        start = datetime.datetime.combine(today, datetime.time.min, tzinfo=clinic.zone)
        end = start + datetime.timedelta(days=1)
        flags = dict(
            RiskFlag.objects.filter(clinic=clinic, status__in=ACTIVE_FLAG_STATUSES)
            .order_by()
            .values_list("severity")
            .annotate(n=Count("pk"))
        )
        appointments = Appointment.objects.filter(clinic=clinic).aggregate(
            today=Count(
                "pk", filter=Q(starts_at__gte=start, starts_at__lt=end) & ~Q(attendance_status__in=NOT_HAPPENING)
            ),
            attended=Count(
                "pk", filter=Q(starts_at__gte=now - WINDOW, starts_at__lte=now, attendance_status__in=ATTENDED)
            ),
            missed=Count("pk", filter=Q(starts_at__gte=now - WINDOW, starts_at__lte=now, attendance_status__in=MISSED)),
        )
        data = {
            "open_flags": {severity: flags.get(severity, 0) for severity in Severity.values},
            "sessions_today": appointments["today"],
            "attendance_rate_30d": _rate(appointments["attended"], appointments["missed"]),
            "attended_30d": appointments["attended"],
            "missed_30d": appointments["missed"],
        }
        return Response(SummarySerializer(data).data)

    @extend_schema(
        summary="A clinician's active patients, most at risk first",
        parameters=[OpenApiParameter("clinician", OpenApiTypes.UUID, OpenApiParameter.QUERY)],
        responses=CaseloadEntrySerializer(many=True),
        tags=["dashboard"],
    )
    @action(detail=False, methods=["get"])
    def caseload(self, request: Request) -> Response:
        query = CaseloadQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        clinician = query.validated_data.get("clinician") or (self.caller.user.pk if self.caller.user else None)
        if clinician is None:
            raise serializers.ValidationError({"clinician": ["Integration clients name the clinician."]})
        now = timezone.now()
        patients = self.get_queryset().filter(assigned_clinician_id=clinician, status=PatientStatus.ACTIVE)
        mine = {"patient_id": OuterRef("pk")}
        appointments = Appointment.objects.filter(**mine)
        recent = appointments.filter(starts_at__gte=now - WINDOW, starts_at__lte=now)
        active_flags = RiskFlag.objects.filter(**mine, status__in=ACTIVE_FLAG_STATUSES)
        rank = (
            active_flags.order_by()
            .values("patient_id")
            .annotate(top=Max(Case(*[When(severity=sev, then=Value(r)) for sev, r in SEVERITY_RANK.items()])))
            .values("top")
        )
        rows = (
            patients.annotate(
                risk_rank=Coalesce(_scalar(rank, IntegerField()), Value(0)),
                open_count=_count(active_flags),
                last_appointment=_scalar(
                    appointments.filter(attendance_status__in=ATTENDED).order_by("-starts_at").values("starts_at"),
                    DateTimeField(),
                ),
                last_group=_scalar(
                    GroupAttendance.objects.filter(**mine, status__in=["attended", "late"], session__cancelled=False)
                    .order_by("-session__starts_at")
                    .values("session__starts_at"),
                    DateTimeField(),
                ),
                next_session=_scalar(
                    appointments.filter(starts_at__gt=now, attendance_status=AttendanceStatus.SCHEDULED)
                    .order_by("starts_at")
                    .values("starts_at"),
                    DateTimeField(),
                ),
                attended_30d=_count(recent.filter(attendance_status__in=ATTENDED)),
                missed_30d=_count(recent.filter(attendance_status__in=MISSED)),
            )
            .annotate(last_attended=Greatest("last_appointment", "last_group"))
            .prefetch_related(
                Prefetch(
                    "risk_flags",
                    queryset=RiskFlag.objects.filter(status__in=ACTIVE_FLAG_STATUSES).order_by("-raised_at"),
                    to_attr="active_flags",
                )
            )
            .order_by(F("risk_rank").desc(), F("open_count").desc(), F("last_attended").asc(nulls_first=True), "pk")
        )
        entries = []
        for patient in rows:
            patient.risk = _RANK_TO_SEVERITY.get(patient.risk_rank)
            patient.attendance_rate_30d = _rate(patient.attended_30d, patient.missed_30d)
            entries.append(patient)
        return Response(CaseloadEntrySerializer(entries, many=True).data)
