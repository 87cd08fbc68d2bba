"""Months of aftercare history for the demo clinic: plans, weekly sessions with what happened at
each, series booked ahead, support groups with their sessions. Written once: a clinic that already
has appointments is left as it is."""

from __future__ import annotations

import datetime
import random
import zoneinfo

from django.db import transaction
from django.utils import timezone

from aftercare.models import (
    AftercarePlan,
    Appointment,
    AttendanceRecord,
    AttendanceStatus,
    GroupAttendance,
    GroupMembership,
    GroupSession,
    PlanActivity,
    PlanStatus,
    SupportGroup,
)
from aftercare.services.series import series_create
from clinic.auth.caller import Caller
from clinic.auth.scopes import ROLE_SCOPES
from clinic.models import Clinic, Patient, PatientStatus, Role

WARNING_SIGNS = ["Skipping meals", "Isolating from friends", "Not answering my sponsor", "Sleeping past noon"]
COPING = ["Box breathing", "Call my sponsor", "Journaling", "A walk around the block"]
# Patients (by position in the caseload) whose last sessions were missed: the drift staff must see.
DRIFTING = {0: 2, 7: 3, 13: 1, 21: 4}
AHEAD = datetime.timedelta(weeks=8)


@transaction.atomic
def seed_history(clinic: Clinic, *, weeks: int = 20) -> bool:
    """Returns False when the clinic already had a history."""
    if Appointment.objects.filter(clinic=clinic).exists():
        return False
    rng = random.Random(42)
    zone = zoneinfo.ZoneInfo(clinic.time_zone)
    now = timezone.now()
    today = timezone.localdate(timezone=zone)
    patients = list(Patient.objects.filter(clinic=clinic, assigned_clinician__isnull=False).order_by("external_id"))
    slots: dict[object, int] = {}
    for index, patient in enumerate(patients):
        clinician = patient.assigned_clinician
        if clinician is None:
            continue
        slot = slots.get(clinician.pk, 0)
        slots[clinician.pk] = slot + 1
        weekday, hour = slot % 5, 9 + slot // 5  # a weekly hour of the clinician's own
        plan = _plan(patient, rng)
        therapy = plan.activities.get(kind="individual_therapy")
        first = max(patient.intake_date, today - datetime.timedelta(weeks=weeks))
        last = patient.discharge_date or today
        missed_tail = DRIFTING.get(index, 0)
        sessions = []
        day = first + datetime.timedelta(days=(weekday - first.weekday()) % 7)
        while day < last:
            starts = datetime.datetime.combine(day, datetime.time(hour), tzinfo=zone)
            if starts < now:
                sessions.append(starts)
            day += datetime.timedelta(weeks=1)
        for position, starts in enumerate(sessions):
            remaining = len(sessions) - position
            if remaining <= missed_tail:
                status = AttendanceStatus.MISSED
            else:
                status = rng.choices(
                    [AttendanceStatus.ATTENDED, AttendanceStatus.LATE, AttendanceStatus.MISSED,
                     AttendanceStatus.CANCELLED, AttendanceStatus.LATE_CANCELLED, AttendanceStatus.EXCUSED],
                    weights=[78, 6, 6, 5, 3, 2],
                )[0]  # fmt: skip
            appointment = Appointment.objects.create(
                clinic=clinic,
                patient=patient,
                clinician=clinician,
                activity=therapy,
                kind="individual_therapy",
                starts_at=starts,
                ends_at=starts + datetime.timedelta(minutes=50),
                location="Room 2",
                attendance_status=status,
                attendance_recorded_at=starts + datetime.timedelta(hours=1),
                attendance_recorded_by=clinician,
            )
            AttendanceRecord.objects.create(
                appointment=appointment,
                status=status,
                previous_status=AttendanceStatus.SCHEDULED,
                recorded_at=starts + datetime.timedelta(hours=1),
                recorded_by=clinician,
            )
        if patient.status == PatientStatus.ACTIVE:
            caller = Caller(clinic=clinic, scopes=ROLE_SCOPES[Role.CLINICIAN], user=clinician, role=Role.CLINICIAN)
            # From today when today is their day: the Today board has the day's sessions to mark.
            start_on = today + datetime.timedelta(days=(weekday - today.weekday()) % 7)
            series_create(
                by=caller,
                patient=patient,
                clinician=clinician,
                activity=therapy,
                kind="individual_therapy",
                rrule="FREQ=WEEKLY",
                starts_on=start_on,
                local_start_time=datetime.time(hour),
                duration_minutes=50,
                location="Room 2",
            )
    _groups(clinic, patients, rng, zone, now)
    return True


def _plan(patient: Patient, rng: random.Random) -> AftercarePlan:
    active = patient.status == PatientStatus.ACTIVE
    plan = AftercarePlan.objects.create(
        clinic=patient.clinic,
        patient=patient,
        status=PlanStatus.ACTIVE if active else PlanStatus.COMPLETED,
        start_date=patient.intake_date,
        end_date=None if active else patient.discharge_date,
        goals="Stay connected to care; rebuild a daily routine.",
        warning_signs=rng.sample(WARNING_SIGNS, 2),
        triggers=[
            {"category": "stress", "description": "Money worries"},
            {"category": "people_and_places", "description": ""},
        ],
        coping_strategies=rng.sample(COPING, 2),
        daily_routine="Up at 7, walk, work or volunteering, an evening meeting twice a week.",
        emergency_plan={
            "contacts": [{"name": "Crisis line", "relationship": "", "phone": "988"}],
            "where_to_go": "The clinic's walk-in hours, or the nearest emergency room",
            "what_to_do": "Leave the situation, call someone on this list, then the clinic.",
        },
        support_persons=[{"name": "A friend", "relationship": "friend", "phone": "+1 312-555-0160"}],
    )
    PlanActivity.objects.create(plan=plan, kind="individual_therapy", provider="Clinic therapist", position=0)
    if rng.random() < 0.4:
        PlanActivity.objects.create(
            plan=plan, kind="medication", medication=rng.choice(["buprenorphine", "methadone", "naltrexone"]),
            dose_schedule="Daily", medication_started_on=patient.intake_date, position=1,
        )  # fmt: skip
    PlanActivity.objects.create(
        plan=plan, kind="support_group", support_group_kind="smart", frequency_count=2, position=2
    )
    return plan


def _groups(
    clinic: Clinic, patients: list[Patient], rng: random.Random, zone: zoneinfo.ZoneInfo, now: datetime.datetime
) -> None:
    for name, kind, weekday, members in (
        ("Tuesday SMART Recovery", "smart", 1, patients[::3]),
        ("Thursday peer support", "peer", 3, patients[1::3]),
    ):
        group = SupportGroup.objects.create(
            clinic=clinic, name=name, kind=kind, facilitator="Peer facilitator", location="Group room"
        )
        for patient in members:
            GroupMembership.objects.create(group=group, patient=patient, joined_on=patient.intake_date)
        day = timezone.localdate(timezone=zone) - datetime.timedelta(weeks=10)
        day += datetime.timedelta(days=(weekday - day.weekday()) % 7)
        # Ten weeks of sessions behind, with what happened at each, and eight booked ahead.
        while (starts := datetime.datetime.combine(day, datetime.time(18, 30), tzinfo=zone)) < now + AHEAD:
            session = GroupSession.objects.create(
                group=group, starts_at=starts, ends_at=starts + datetime.timedelta(minutes=90)
            )
            if starts <= now:
                GroupAttendance.objects.bulk_create(
                    GroupAttendance(
                        session=session, patient=patient, status="attended" if rng.random() < 0.8 else "missed"
                    )
                    for patient in members
                    if patient.intake_date <= day
                )
            day += datetime.timedelta(weeks=1)
