"""The demo's sessions: weekly therapy and the support groups, with what happened at each."""

from __future__ import annotations

import datetime
import random
import zoneinfo
from collections.abc import Iterator

from django.utils import timezone

from aftercare.demo.people import GROUPS, Person
from aftercare.models import (
    Appointment,
    AttendanceRecord,
    AttendanceStatus,
    GroupAttendance,
    GroupMembership,
    GroupSession,
    PlanActivity,
    SupportGroup,
)
from aftercare.services.series import series_create
from clinic.auth.caller import Caller
from clinic.auth.scopes import ROLE_SCOPES
from clinic.demo import Story
from clinic.models import Clinic, PatientStatus, Role

AHEAD = datetime.timedelta(weeks=8)
GROUP_HISTORY = datetime.timedelta(weeks=16)
# Before the last this many days of a patient's sessions, an isolated miss happens; within them,
# someone doing well has attended (so no rule counts a recent miss against them).
SETTLED = datetime.timedelta(days=35)
A = AttendanceStatus
RECORDED_AFTER = datetime.timedelta(hours=1)
# A group session has no cancelling: the nearest of its own statuses.
GROUP_STATUS: dict[str, str] = {A.CANCELLED: "excused", A.LATE_CANCELLED: "missed"}


def _weekly(first: datetime.date, last: datetime.date, weekday: int) -> Iterator[datetime.date]:
    day = first + datetime.timedelta(days=(weekday - first.weekday()) % 7)
    while day < last:
        yield day
        day += datetime.timedelta(weeks=1)


def _settled_status(previous: str, rng: random.Random, *, settled: bool) -> str:
    """Someone doing well: late or cancelling now and then; an isolated miss only long ago."""
    if settled:
        return rng.choices([A.ATTENDED, A.LATE], weights=[92, 8])[0]
    choices = [A.ATTENDED, A.LATE, A.CANCELLED, A.EXCUSED, A.MISSED, A.LATE_CANCELLED]
    status = rng.choices(choices, weights=[80, 6, 6, 2, 4, 2])[0]
    return A.ATTENDED if status in (A.MISSED, A.LATE_CANCELLED) and previous in (A.MISSED, A.LATE_CANCELLED) else status


def therapy_write(
    *, person: Person, slot: int, weeks: int, rng: random.Random, zone: zoneinfo.ZoneInfo,
    now: datetime.datetime, today: datetime.date,
) -> None:  # fmt: skip
    patient, clinician, story = person.patient, person.clinician, person.course.story
    weekday, hour = slot % 5, 9 + slot // 5  # a weekly hour of the clinician's own
    therapy = person.plan.activities.get(kind="individual_therapy")
    first = max(patient.intake_date, today - datetime.timedelta(weeks=weeks))
    last = patient.discharge_date or today
    if story == Story.STEPPED_DOWN_LOST:
        days = [patient.intake_date + datetime.timedelta(days=2)]  # the first visit, booked at the step down
        hour = 16  # after the clinician's weekly hours
    else:
        days = list(_weekly(first, last, weekday))
    sessions = [s for d in days if (s := datetime.datetime.combine(d, datetime.time(hour), tzinfo=zone)) < now]
    missed_from = len(sessions)  # from this session on, missed
    if story == Story.CRAVING_RISING:
        missed_from = len(sessions) - 2
    elif story == Story.STEPPED_DOWN_LOST:
        missed_from = 0
    elif person.stopped_on is not None:
        missed_from = next((i for i, s in enumerate(sessions) if s.date() > person.stopped_on), len(sessions))
        if story == Story.DROPPED_OUT:
            sessions = sessions[: missed_from + 1]  # one no-show, then nothing more was booked
    settle_from = (sessions[missed_from] if missed_from < len(sessions) else now) - SETTLED
    appointments, records = [], []
    status: str = A.ATTENDED
    for position, starts in enumerate(sessions):
        settled = starts >= settle_from
        status = A.MISSED if position >= missed_from else _settled_status(status, rng, settled=settled)
        appointments.append(_appointment(person, therapy, "individual_therapy", starts, status, location="Room 2"))
    if story == Story.COMPLETED and patient.discharge_date:
        # Seen after discharge (the follow-up HEDIS counts): within the week, then three weeks on.
        for after in (5, 19):
            starts = datetime.datetime.combine(
                patient.discharge_date + datetime.timedelta(days=after),
                datetime.time(15 + person.number % 3),
                tzinfo=zone,
            )
            status = A.ATTENDED if starts < now else A.SCHEDULED
            appointments.append(_appointment(person, None, "case_management", starts, status, location="Telehealth"))
    Appointment.objects.bulk_create(appointments)
    for appointment in appointments:
        if appointment.attendance_status != A.SCHEDULED:
            records.append(
                AttendanceRecord(appointment=appointment, status=appointment.attendance_status,
                                 previous_status=A.SCHEDULED, recorded_at=appointment.starts_at + RECORDED_AFTER,
                                 recorded_by=clinician)
            )  # fmt: skip
    AttendanceRecord.objects.bulk_create(records)
    if patient.status == PatientStatus.ACTIVE:
        caller = Caller(clinic=patient.clinic, scopes=ROLE_SCOPES[Role.CLINICIAN], user=clinician, role=Role.CLINICIAN)
        # From today when today is their day: the Today board has the day's sessions to mark.
        series_create(
            by=caller,
            patient=patient,
            clinician=clinician,
            activity=therapy,
            kind="individual_therapy",
            rrule="FREQ=WEEKLY",
            starts_on=today + datetime.timedelta(days=(weekday - today.weekday()) % 7),
            local_start_time=datetime.time(hour),
            duration_minutes=50,
            location="Room 2",
        )


def _appointment(
    person: Person, activity: PlanActivity | None, kind: str, starts: datetime.datetime, status: str, *, location: str
) -> Appointment:
    recorded = status != A.SCHEDULED
    return Appointment(
        clinic=person.patient.clinic,
        patient=person.patient,
        clinician=person.clinician,
        activity=activity,
        kind=kind,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=50),
        location=location,
        attendance_status=status,
        attendance_recorded_at=starts + RECORDED_AFTER if recorded else None,
        attendance_recorded_by=person.clinician if recorded else None,
    )


def groups_write(
    *, clinic: Clinic, people: list[Person], rng: random.Random, zone: zoneinfo.ZoneInfo, now: datetime.datetime
) -> None:
    """The groups the plans name, each with the patients whose plan names it: sixteen weeks of
    sessions behind with what happened at each, eight booked ahead. A discharged patient left
    their group when they stopped coming (or finished); a patient just stepped down joins later."""
    today = timezone.localdate(timezone=zone)
    for name, kind, weekday in GROUPS:
        group = SupportGroup.objects.create(
            clinic=clinic, name=name, kind=kind, facilitator="Peer facilitator", location="Group room"
        )
        members = []
        for person in people:
            patient = person.patient
            if person.group_kind != kind or person.course.story in (Story.STEPPED_DOWN_LOST, Story.ARCHIVED):
                continue
            left = None
            if person.course.story == Story.DROPPED_OUT:
                left = person.stopped_on
            elif patient.status != PatientStatus.ACTIVE:
                left = patient.discharge_date
            members.append((person, left))
        GroupMembership.objects.bulk_create(
            GroupMembership(group=group, patient=person.patient, joined_on=person.patient.intake_date, left_on=left)
            for person, left in members
        )
        sessions, attendance = [], []
        previous: dict[int, str] = {}
        for day in _weekly(today - GROUP_HISTORY, today + AHEAD, weekday):
            starts = datetime.datetime.combine(day, datetime.time(18, 30), tzinfo=zone)
            session = GroupSession(group=group, starts_at=starts, ends_at=starts + datetime.timedelta(minutes=90))
            sessions.append(session)
            if starts > now:
                continue
            for person, left in members:
                if not person.patient.intake_date <= day or (left is not None and day > left):
                    continue
                if person.stopped_on is not None and day > person.stopped_on:
                    status = "missed"  # still on the roster, no longer coming
                else:
                    last = person.stopped_on or left or today
                    settled = day >= last - SETTLED
                    status = _settled_status(previous.get(person.number, A.ATTENDED), rng, settled=settled)
                    status = GROUP_STATUS.get(status, status)
                previous[person.number] = status
                attendance.append(GroupAttendance(session=session, patient=person.patient, status=status))
        GroupSession.objects.bulk_create(sessions)
        GroupAttendance.objects.bulk_create(attendance)
