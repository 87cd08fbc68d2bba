"""Reads behind the patient page: the plan in force, attendance week by week, upcoming sessions,
flags and the change history with names. Each costs a fixed number of queries, however many
sessions or changes the patient has."""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Case, IntegerField, Prefetch, Value, When
from django.utils import timezone

from aftercare.models import (
    ActivityKind,
    AftercarePlan,
    Appointment,
    AttendanceStatus,
    GroupAttendance,
    GroupSession,
    OutsideMeeting,
    PlanActivity,
    PlanStatus,
    RiskFlag,
)
from aftercare.models.choices import CANCELLED_STATUSES
from aftercare.models.flags import ACTIVE_FLAG_STATUSES
from aftercare.models.outcomes import ATTENDED_STATUSES, MISSED_STATUSES, appointment_stream
from clinic.models import Clinic, Patient
from clinic.selectors.patients import actor_names, patient_history

GRID_WEEKS = 26


def plan_current(*, patient: Patient) -> AftercarePlan | None:
    """The plan staff work on: the active one, else the newest draft (with its activities)."""
    return (
        AftercarePlan.objects.filter(patient=patient, status__in=[PlanStatus.ACTIVE, PlanStatus.DRAFT])
        .order_by(
            Case(When(status=PlanStatus.ACTIVE, then=Value(0)), default=Value(1), output_field=IntegerField()),
            "-created_at",
        )
        .prefetch_related(Prefetch("activities", queryset=PlanActivity.objects.order_by("position", "created_at")))
        .first()
    )


def plan_medications(plan: AftercarePlan | None) -> list[PlanActivity]:
    """The plan's medication-assisted treatment activities (from its prefetched activities)."""
    if plan is None:
        return []
    return [activity for activity in plan.activities.all() if activity.kind == ActivityKind.MEDICATION]


# --- Attendance, week by week -------------------------------------------------------------------

# What a cell says about one session, without colour: a symbol and a word.
MARKS: dict[str, tuple[str, str]] = {
    "attended": ("✓", "attended"),
    "missed": ("✗", "missed"),
    "cancelled": ("\u2013", "cancelled"),  # an en dash
    "excused": ("○", "excused"),
    "unrecorded": ("?", "not recorded"),
}
# The mark a cell takes its colour from when a week holds several: what staff must see first.
_PRECEDENCE = ("missed", "unrecorded", "attended", "excused", "cancelled")
GRID_ROWS = (
    ("individual", "Individual sessions"),
    ("group", "Group sessions"),
    ("medication", "Medication visits"),
    ("outside", "Outside meetings"),
)


def _mark(status: str) -> str:
    if status in ATTENDED_STATUSES:
        return "attended"
    if status in MISSED_STATUSES:
        return "missed"
    if status in CANCELLED_STATUSES:
        return "cancelled"
    if status == AttendanceStatus.EXCUSED:
        return "excused"
    return "unrecorded"


@dataclass
class GridCell:
    week: datetime.date
    marks: Counter[str] = field(default_factory=Counter)

    @property
    def state(self) -> str:
        return next((mark for mark in _PRECEDENCE if self.marks[mark]), "none")

    @property
    def symbols(self) -> str:
        return "".join(MARKS[mark][0] * self.marks[mark] for mark in _PRECEDENCE)[:4]

    @property
    def text(self) -> str:
        if not self.marks:
            return "no session"
        return ", ".join(f"{self.marks[mark]} {MARKS[mark][1]}" for mark in _PRECEDENCE if self.marks[mark])


@dataclass
class GridRow:
    key: str
    label: str
    cells: list[GridCell]


@dataclass
class AttendanceGrid:
    weeks: list[datetime.date]
    rows: list[GridRow]

    @property
    def legend(self) -> list[tuple[str, str, str]]:
        return [(mark, symbol, word) for mark, (symbol, word) in MARKS.items()]


def attendance_grid(
    *, patient: Patient, clinic: Clinic, now: datetime.datetime | None = None, weeks: int = GRID_WEEKS
) -> AttendanceGrid:
    """The patient's sessions of the last `weeks` weeks (Monday to Sunday, clinic time), one row
    per kind of care. Three queries: appointments, group attendance, outside meetings."""
    zone = clinic.zone
    now = now or timezone.now()
    today = now.astimezone(zone).date()
    first = today - datetime.timedelta(days=today.weekday(), weeks=weeks - 1)
    since = datetime.datetime.combine(first, datetime.time.min, tzinfo=zone)
    monday = [first + datetime.timedelta(weeks=n) for n in range(weeks)]
    rows = {key: GridRow(key, label, [GridCell(week) for week in monday]) for key, label in GRID_ROWS}

    def add(row: str, moment: datetime.datetime | datetime.date, mark: str) -> None:
        day = moment.astimezone(zone).date() if isinstance(moment, datetime.datetime) else moment
        index = (day - first).days // 7
        if 0 <= index < weeks:
            rows[row].cells[index].marks[mark] += 1

    appointments = Appointment.objects.filter(patient=patient, starts_at__gte=since, starts_at__lte=now)
    for kind, status, starts_at in appointments.values_list("kind", "attendance_status", "starts_at"):
        add(appointment_stream(kind), starts_at, _mark(status))
    sessions = GroupAttendance.objects.filter(
        patient=patient, session__starts_at__gte=since, session__starts_at__lte=now
    ).values_list("status", "session__starts_at", "session__cancelled")
    for status, starts_at, cancelled in sessions:
        add("group", starts_at, "cancelled" if cancelled else _mark(status))
    meetings = OutsideMeeting.objects.filter(patient=patient, date__gte=first, date__lte=today)
    for day in meetings.values_list("date", flat=True):
        add("outside", day, "attended")
    return AttendanceGrid(weeks=monday, rows=list(rows.values()))


# --- What comes next ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Upcoming:
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    what: str
    clinical_what: str
    clinician: Any
    location: str


def upcoming_sessions(*, patient: Patient, now: datetime.datetime | None = None, limit: int = 10) -> list[Upcoming]:
    """The patient's next appointments and group sessions (of groups they belong to), soonest
    first. Two queries. `what` says only "Appointment" or "Group session" (for front desk);
    `clinical_what` names the kind of care or the group."""
    now = now or timezone.now()
    appointments = (
        Appointment.objects.filter(patient=patient, starts_at__gte=now)
        .exclude(attendance_status__in=CANCELLED_STATUSES)
        .select_related("clinician")
        .order_by("starts_at")[:limit]
    )
    sessions = (
        GroupSession.objects.filter(
            group__memberships__patient=patient,
            group__memberships__left_on__isnull=True,
            starts_at__gte=now,
            cancelled=False,
        )
        .select_related("group")
        .order_by("starts_at")[:limit]
    )
    items = [
        Upcoming(
            a.starts_at,
            a.ends_at,
            "Appointment",
            str(ActivityKind(a.kind).label),
            a.clinician,
            a.location or ("Telehealth" if a.telehealth_url else ""),
        )
        for a in appointments
    ] + [
        Upcoming(s.starts_at, s.ends_at, "Group session", s.group.name, None, s.location or s.group.location)
        for s in sessions
    ]
    return sorted(items, key=lambda item: item.starts_at)[:limit]


def patient_flags(*, patient: Patient) -> tuple[list[RiskFlag], list[RiskFlag]]:
    """(open and acknowledged, closed) flags of the patient, newest first. One query."""
    flags = list(RiskFlag.objects.filter(patient=patient).order_by("-raised_at")[:100])
    active = [flag for flag in flags if flag.status in ACTIVE_FLAG_STATUSES]
    return active, [flag for flag in flags if flag.status not in ACTIVE_FLAG_STATUSES]


# --- Who changed what ---------------------------------------------------------------------------

_MODEL_NAMES = {
    "clinic.Patient": "Patient",
    "clinic.Consent": "Consent",
    "aftercare.AftercarePlan": "Plan",
    "aftercare.PlanActivity": "Plan activity",
    "aftercare.Appointment": "Appointment",
    "aftercare.AppointmentSeries": "Appointment series",
    "aftercare.GroupMembership": "Group membership",
    "aftercare.GroupAttendance": "Group attendance",
    "aftercare.OutsideMeeting": "Outside meeting",
    "aftercare.RiskFlag": "Risk flag",
    "aftercare.CareTransition": "Care transition",
    "aftercare.MedicationEvent": "Medication event",
    "aftercare.DrugScreen": "Drug screen",
}
_CHANGES = {"insert": "created", "update": "changed", "delete": "removed"}
_QUIET_FIELDS = {"updated_at", "created_at"}


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime.datetime
    actor: str
    what: str
    change: str
    fields: list[str]


def _actor_key(context: dict[str, Any] | None) -> str:
    context = context or {}
    if context.get("actor"):
        return str(context["actor"])
    return f"user:{context['user']}" if context.get("user") else ""


def _actor_label(key: str, names: dict[str, str]) -> str:
    if key in names:
        return names[key]
    kind, _, value = key.partition(":")
    if kind == "task":
        return f"Automatic ({value.replace('_', ' ')})"
    if kind == "client":
        return "An integration client"
    return "System" if not key else "A former staff member"


def patient_changes(*, patient: Patient, clinic: Clinic, limit: int = 30) -> list[HistoryEntry]:
    """The newest changes to the patient's records, each with who made it by name (the change
    history stores `user:<id>`, `client:<id>` or `task:<name>`). Two queries."""
    events: Sequence[Any] = list(patient_history(patient=patient)[:limit])
    keys = [_actor_key(event.pgh_context) for event in events]
    names = actor_names(clinic=clinic, keys=keys)
    return [
        HistoryEntry(
            at=event.pgh_created_at,
            actor=_actor_label(key, names),
            what=_MODEL_NAMES.get(event.pgh_obj_model, event.pgh_obj_model.rpartition(".")[2]),
            change=_CHANGES.get(event.pgh_label, event.pgh_label),
            fields=[
                name.replace("_", " ") for name in sorted((event.pgh_diff or {}).keys()) if name not in _QUIET_FIELDS
            ],
        )
        for event, key in zip(events, keys, strict=True)
    ]
