"""A clinic at a glance (the API's `dashboard/summary/`): open flags by severity, today's sessions
and the attendance of the last 30 days, in two queries whatever the clinic's size."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Count, Q
from django.utils import timezone

from aftercare.models import ACTIVE_FLAG_STATUSES, Appointment, AttendanceStatus, RiskFlag, Severity
from aftercare.selectors.caseload import ATTENDED, MISSED, WINDOW, attendance_rate
from clinic.models import Clinic

NOT_HAPPENING = (AttendanceStatus.CANCELLED, AttendanceStatus.LATE_CANCELLED, AttendanceStatus.CANCELLED_BY_CLINIC)


@dataclass(frozen=True)
class ClinicSummary:
    open_flags: dict[str, int]  # open or acknowledged, by severity
    sessions_today: int  # appointments today (clinic time), not cancelled
    attended_30d: int
    missed_30d: int

    @property
    def attendance_rate_30d(self) -> float | None:
        return attendance_rate(self.attended_30d, self.missed_30d)


def clinic_summary(*, clinic: Clinic, now: datetime.datetime | None = None) -> ClinicSummary:
    now = now or timezone.now()
    today = now.astimezone(clinic.zone).date()
    start = datetime.datetime.combine(today, datetime.time.min, tzinfo=clinic.zone)
    end = start + datetime.timedelta(days=1)
    flags = dict(
        RiskFlag.objects.filter(clinic=clinic, status__in=ACTIVE_FLAG_STATUSES)
        .order_by()
        .values_list("severity")
        .annotate(n=Count("pk"))
    )
    recent = Q(starts_at__gte=now - WINDOW, starts_at__lte=now)
    appointments = Appointment.objects.filter(clinic=clinic).aggregate(
        today=Count("pk", filter=Q(starts_at__gte=start, starts_at__lt=end) & ~Q(attendance_status__in=NOT_HAPPENING)),
        attended=Count("pk", filter=recent & Q(attendance_status__in=ATTENDED)),
        missed=Count("pk", filter=recent & Q(attendance_status__in=MISSED)),
    )
    return ClinicSummary(
        open_flags={severity: flags.get(severity, 0) for severity in Severity.values},
        sessions_today=appointments["today"],
        attended_30d=appointments["attended"],
        missed_30d=appointments["missed"],
    )
