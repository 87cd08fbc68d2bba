"""Reads behind the Today board, the group list and a session's roster: each a fixed number of
queries, whatever the number of rows."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone

from aftercare.models import (
    Appointment,
    AttendanceRecord,
    GroupAttendance,
    GroupMembership,
    GroupSession,
    SupportGroup,
)
from clinic.models import Clinic, Patient, User


def local_day_bounds(clinic: Clinic, now: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime]:
    """The clinic's local calendar day around `now`, as UTC instants [start, end)."""
    day = timezone.localtime(now, clinic.zone).date()
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=clinic.zone)
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min, tzinfo=clinic.zone)
    return start.astimezone(datetime.UTC), end.astimezone(datetime.UTC)


def appointments_of_day(
    *, clinic: Clinic, start: datetime.datetime, end: datetime.datetime, clinician: User | None = None
) -> QuerySet[Appointment]:
    """The appointments starting in [start, end), by time, with who they are for and with, who
    checked them in and recorded them, and the status the last mark replaced (`undo_to`)."""
    last_record = AttendanceRecord.objects.filter(appointment=OuterRef("pk")).order_by("-recorded_at", "-id")
    appointments = (
        Appointment.objects.filter(clinic=clinic, starts_at__gte=start, starts_at__lt=end)
        .select_related("patient", "clinician", "arrived_by", "attendance_recorded_by", "attendance_recorded_by_client")
        .annotate(undo_to=Subquery(last_record.values("previous_status")[:1]))
        .order_by("starts_at", "patient__family_name", "patient__given_name", "id")
    )
    if clinician is not None:
        appointments = appointments.filter(clinician=clinician)
    return appointments


def group_sessions_between(
    *, clinic: Clinic, start: datetime.datetime, end: datetime.datetime
) -> QuerySet[GroupSession]:
    return (
        GroupSession.objects.filter(group__clinic=clinic, starts_at__gte=start, starts_at__lt=end)
        .select_related("group")
        .order_by("starts_at", "group__name", "id")
    )


def support_groups_with_sessions(*, clinic: Clinic, now: datetime.datetime, days: int = 14) -> QuerySet[SupportGroup]:
    """The clinic's groups (active first, by name), each with its sessions from `days` ago to
    `days` ahead in `window_sessions` (by time)."""
    window = GroupSession.objects.filter(
        starts_at__gte=now - datetime.timedelta(days=days), starts_at__lt=now + datetime.timedelta(days=days)
    ).order_by("starts_at", "id")
    return (
        SupportGroup.objects.filter(clinic=clinic)
        .prefetch_related(Prefetch("sessions", queryset=window, to_attr="window_sessions"))
        .order_by("-is_active", "name", "id")
    )


@dataclass(frozen=True)
class RosterRow:
    patient: Patient
    recorded: GroupAttendance | None

    @property
    def status(self) -> str | None:
        return self.recorded.status if self.recorded is not None else None


def group_session_roster(*, session: GroupSession) -> list[RosterRow]:
    """Who is expected at the session: the group's members on its local date (as reminders
    count them), and anyone whose attendance is already recorded. By family name. Two queries."""
    day = timezone.localtime(session.starts_at, session.group.clinic.zone).date()
    members = (
        GroupMembership.objects.filter(group_id=session.group_id, joined_on__lte=day)
        .filter(Q(left_on__isnull=True) | Q(left_on__gte=day))
        .select_related("patient")
    )
    recorded = {
        row.patient_id: row
        for row in GroupAttendance.objects.filter(session=session).select_related("patient", "recorded_by")
    }
    patients = {membership.patient_id: membership.patient for membership in members}
    for patient_id, row in recorded.items():
        patients.setdefault(patient_id, row.patient)
    ordered = sorted(patients.values(), key=lambda p: (p.family_name.lower(), p.given_name.lower(), str(p.pk)))
    return [RosterRow(patient=patient, recorded=recorded.get(patient.pk)) for patient in ordered]
