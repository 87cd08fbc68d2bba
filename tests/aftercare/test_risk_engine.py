"""The risk engine on generated populations: the sweep and the incremental path (the task queued
after attendance is recorded) give identical flags, and both match a plain-Python reading of the
rules in DESIGN.md, written independently of the SQL. The populations hold sessions, plans and
medication starts, groups, and the records the newer rules read (risk_oracle_records.py):
medication events, check-ins, care transitions and drug screens."""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aftercare.models import (
    ActivityKind,
    AttendanceStatus,
    GroupAttendance,
    GroupMembership,
    PlanActivity,
    RiskFlag,
    RiskRule,
)
from aftercare.risk.engine import evaluate
from clinic.models import Clinic, PatientStatus
from tests.aftercare.factories import (
    AppointmentFactory,
    GroupSessionFactory,
    PlanFactory,
    SupportGroupFactory,
    clinician_of,
)
from tests.aftercare.risk_oracle_records import Built, Records, build_records, expected_records, records
from tests.factories import ClinicFactory, PatientFactory

UTC = datetime.UTC
NOW = datetime.datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
TODAY = NOW.date()
ATTENDED = {"attended", "late"}
MISSED = {"missed", "late_cancelled"}


@dataclass(frozen=True)
class Session:
    hours_ago: int
    status: str
    medication: bool


@dataclass(frozen=True)
class Person:
    intake_days_ago: int
    discharged_days_ago: int | None
    plan_start_days_ago: int | None
    medication_start_days_ago: int | None
    sessions: tuple[Session, ...]
    group: tuple[tuple[int, str], ...]  # (hours ago, status) of the sessions of one group they belong to
    joined_days_ago: int
    records: Records


sessions = st.builds(
    Session,
    hours_ago=st.integers(-24, 24 * 80),
    status=st.sampled_from(AttendanceStatus.values),
    medication=st.booleans(),
)
people = st.builds(
    Person,
    intake_days_ago=st.integers(0, 120),
    discharged_days_ago=st.none() | st.integers(0, 100),
    plan_start_days_ago=st.none() | st.integers(0, 70),
    medication_start_days_ago=st.none() | st.integers(0, 70),
    sessions=st.lists(sessions, max_size=7, unique_by=lambda s: s.hours_ago).map(tuple),
    group=st.lists(
        st.tuples(st.integers(1, 24 * 60), st.sampled_from(["attended", "late", "missed", "excused"])),
        max_size=5,
        unique_by=lambda item: item[0],
    ).map(tuple),
    joined_days_ago=st.integers(0, 70),
    records=records,
)


@dataclass
class Event:
    kind: str
    id: str
    starts_at: datetime.datetime
    status: str
    medication: bool = False
    in_group: bool = False

    @property
    def attended(self) -> bool:
        return self.status in ATTENDED

    @property
    def missed(self) -> bool:
        return self.status in MISSED


def _hours(hours: int) -> datetime.datetime:
    return NOW - datetime.timedelta(hours=hours)


def build(clinic: Clinic, person: Person) -> tuple[Any, list[Event], Built, str | None]:
    intake = TODAY - datetime.timedelta(days=person.intake_days_ago)
    discharged = person.discharged_days_ago is not None and person.discharged_days_ago <= person.intake_days_ago
    patient = PatientFactory.create(
        clinic=clinic,
        intake_date=intake,
        status=PatientStatus.DISCHARGED if discharged else PatientStatus.ACTIVE,
        discharge_date=TODAY - datetime.timedelta(days=person.discharged_days_ago or 0) if discharged else None,
    )
    plan, listed = None, None  # the active plan, and the medication it lists
    if person.plan_start_days_ago is not None:
        plan = PlanFactory.create(
            patient=patient, start_date=TODAY - datetime.timedelta(days=person.plan_start_days_ago)
        )
        if person.medication_start_days_ago is not None or person.records.medication is not None:
            listed = person.records.medication or "methadone"
            started = person.medication_start_days_ago
            PlanActivity.objects.create(
                plan=plan, kind=ActivityKind.MEDICATION, medication=listed,
                medication_started_on=None if started is None else TODAY - datetime.timedelta(days=started),
            )  # fmt: skip
    built = build_records(patient, plan, person.records, now=NOW, by=clinician_of(clinic))
    events = []
    for item in person.sessions:
        kind = ActivityKind.MEDICATION if item.medication else ActivityKind.INDIVIDUAL_THERAPY
        appointment = AppointmentFactory.create(
            patient=patient, clinic=clinic, kind=kind, starts_at=_hours(item.hours_ago), attendance_status=item.status
        )
        events.append(Event("appointment", str(appointment.pk), appointment.starts_at, item.status, item.medication))
    if person.group:
        group = SupportGroupFactory.create(clinic=clinic)
        joined = TODAY - datetime.timedelta(days=person.joined_days_ago)
        GroupMembership.objects.create(group=group, patient=patient, joined_on=joined)
        for hours_ago, status in person.group:
            session = GroupSessionFactory.create(group=group, starts_at=_hours(hours_ago))
            GroupAttendance.objects.create(session=session, patient=patient, status=status)
            events.append(
                Event(
                    "group_session",
                    str(session.pk),
                    session.starts_at,
                    status,
                    in_group=session.starts_at.date() >= joined,
                )
            )
    return patient, events, built, listed


def _streak(events: list[Event]) -> list[Event]:
    attended = [e.starts_at for e in events if e.attended]
    last = max(attended) if attended else None
    return [e for e in events if e.missed and (last is None or e.starts_at > last)]


def expected(
    patient: Any, events: list[Event], built: Built, listed: str | None
) -> dict[tuple[str, str], tuple[str, set[str]]]:
    """The rules of DESIGN.md read literally, in Python, for one patient at NOW."""
    counted = [e for e in events if e.attended or e.missed]  # excused, cancelled, scheduled: left out
    found: dict[str, tuple[str, list[Event]]] = {}
    # In a row over every session, and within each stream apart; the longest run (the first on a tie).
    runs = [
        _streak(counted),
        _streak([e for e in counted if e.kind == "appointment" and not e.medication]),
        _streak([e for e in counted if e.kind == "group_session"]),
        _streak([e for e in counted if e.kind == "appointment" and e.medication]),
    ]
    streak = max(runs, key=len)
    if len(streak) >= 3:
        found["consecutive_missed"] = ("high", streak)
    elif len(streak) >= 2:
        found["consecutive_missed"] = ("medium", streak)
    window = [e for e in counted if e.missed and e.starts_at > NOW - datetime.timedelta(days=30)]
    if len(window) >= 3:
        found["missed_in_window"] = ("medium", window)
    plan = patient.plans.filter(status="active").first()
    starts = []
    if plan is not None:
        starts = [
            plan.start_date,
            *plan.activities.filter(kind="medication").values_list("medication_started_on", flat=True),
        ]
    early = [
        e for e in counted
        if e.missed and any(s is not None and s <= e.starts_at.date() < s + datetime.timedelta(days=30) for s in starts)
    ]  # fmt: skip
    # Re-engaged: 2 sessions attended after the last early miss end it; 2 early misses are high.
    reengaged = early and len([e for e in counted if e.attended and e.starts_at > max(x.starts_at for x in early)]) >= 2
    if early and not reengaged:
        found["early_missed"] = ("high" if len(early) >= 2 else "medium", early)
    attended = [e for e in counted if e.attended]
    last = max((e.starts_at for e in attended), default=None)
    if patient.status == "active":
        since = max(filter(None, [last, datetime.datetime.combine(patient.intake_date, datetime.time.min, UTC)]))
        evidence = [e for e in attended if e.starts_at == last]
        if NOW - since > datetime.timedelta(days=37):
            found["no_contact"] = ("high", evidence)
        elif NOW - since >= datetime.timedelta(days=30):
            found["no_contact"] = ("medium", evidence)
    dropout = _streak([e for e in counted if e.in_group])
    if len(dropout) >= 3:
        found["group_dropout"] = ("medium", dropout)
    read = {rule: (severity, {e.id for e in items}) for rule, (severity, items) in found.items()}
    read |= expected_records(patient, built, listed, attended, NOW)
    return {(str(patient.pk), rule): value for rule, value in read.items()}


def snapshot() -> dict[tuple[str, str], tuple[str, set[str]]]:
    return {
        (str(flag.patient_id), flag.rule): (flag.severity, {item["id"] for item in flag.evidence})
        for flag in RiskFlag.objects.all()
    }


@pytest.mark.django_db
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=30)
@given(population=st.lists(people, min_size=1, max_size=4), order=st.randoms())
def test_sweep_incremental_and_the_rules_as_written_agree(population: list[Person], order: random.Random) -> None:
    with transaction.atomic():
        clinic = ClinicFactory.create(time_zone="UTC")
        built = [build(clinic, person) for person in population]
        want: dict[tuple[str, str], tuple[str, set[str]]] = {}
        for patient, events, records_built, listed in built:
            want.update(expected(patient, events, records_built, listed))

        with transaction.atomic():
            evaluate(now=NOW)
            swept = snapshot()
            transaction.set_rollback(True)

        from tasks.risk import risk_evaluate_patients

        patients = [str(patient.pk) for patient, *_ in built]
        order.shuffle(patients)
        for patient_id in patients:
            risk_evaluate_patients.delay([patient_id], now=NOW.isoformat())
        incremental = snapshot()
        transaction.set_rollback(True)

    assert swept == want
    assert incremental == swept
    assert set(RiskRule.values) >= {rule for _patient, rule in want}
