"""When reminders go out, and keeping their rows in step with the sessions they are for.

Offsets are elapsed time before the session (48 h is 48 hours, whatever a DST change does to the
wall clock). A reminder due inside the clinic's quiet hours goes out at the end of the previous
allowed window (one minute before quiet hours begin), and never once the session has started.

A patient gets one email at a time about a session: a reminder that would go out at booking while
a later one is still to come, or at the same minute as a later one, is planned `skipped` (the row
stays, so the API shows why no email went). The dispatcher holds to the same rule for rows that
fall due together later (`reminder_dispatch.reminders_claim`).
"""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from aftercare.models import (
    Appointment,
    AttendanceStatus,
    GroupMembership,
    GroupSession,
    Reminder,
    ReminderKind,
    ReminderStatus,
)
from clinic.models import Clinic, Patient, PatientStatus

_BEFORE_QUIET = datetime.timedelta(minutes=1)


def in_quiet_hours(moment: datetime.time, start: datetime.time, end: datetime.time) -> bool:
    if start == end:
        return False
    if start < end:  # e.g. 13:00 to 14:00
        return start <= moment < end
    return moment >= start or moment < end  # across midnight, e.g. 21:00 to 08:00


def _local(day: datetime.date, at: datetime.time, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    # Through UTC and back, so a wall-clock time inside a DST gap becomes a real instant.
    return datetime.datetime.combine(day, at, tzinfo=zone).astimezone(datetime.UTC)


def allowed_send_at(due: datetime.datetime, clinic: Clinic) -> datetime.datetime:
    """`due`, or when it falls in quiet hours, one minute before those quiet hours began."""
    zone = clinic.zone
    local = due.astimezone(zone)
    start, end = clinic.quiet_hours_start, clinic.quiet_hours_end
    if not in_quiet_hours(local.timetz().replace(tzinfo=None), start, end):
        return due
    day = local.date()
    if start > end and local.time() < end:
        day -= datetime.timedelta(days=1)  # after midnight: the quiet hours began yesterday evening
    return _local(day, start, zone) - _BEFORE_QUIET


def reminder_send_at(
    *, starts_at: datetime.datetime, offset_minutes: int, clinic: Clinic, now: datetime.datetime
) -> datetime.datetime | None:
    """When the reminder `offset_minutes` before `starts_at` goes out; None when it no longer can."""
    # In UTC: Python subtracts wall-clock time from a zone-aware datetime, which across a DST
    # change is not the elapsed time the offset means.
    due = starts_at.astimezone(datetime.UTC) - datetime.timedelta(minutes=offset_minutes)
    send_at = allowed_send_at(due, clinic)
    if send_at < now:
        # Booked late: the reminder goes now, if now is allowed; otherwise it is skipped (the next
        # offset, or the session itself, is close).
        send_at = now
        if allowed_send_at(now, clinic) != now:
            return None
    if send_at >= starts_at:
        return None
    return send_at


@dataclass(frozen=True)
class PlannedReminder:
    offset_minutes: int
    send_at: datetime.datetime
    skipped: bool


def reminder_plan(*, starts_at: datetime.datetime, clinic: Clinic, now: datetime.datetime) -> list[PlannedReminder]:
    """The reminders of a session as planned at `now`, the earliest first (largest offset).

    Each later reminder supersedes an earlier one that would go out at booking (its time has
    passed: the booking itself is the notice, and the later one reminds nearer the session) or at
    the same moment (quiet hours can move two offsets onto one minute): one session, one email
    at a time. Offsets that can no longer go out before the session are left out."""
    planned: list[PlannedReminder] = []
    later: datetime.datetime | None = None  # when the next reminder kept closer to the session goes
    for offset in sorted(set(clinic.reminder_offsets_minutes)):
        send_at = reminder_send_at(starts_at=starts_at, offset_minutes=offset, clinic=clinic, now=now)
        if send_at is None:
            continue
        skipped = later is not None and (send_at <= now or send_at >= later)
        planned.append(PlannedReminder(offset_minutes=offset, send_at=send_at, skipped=skipped))
        if not skipped:
            later = send_at
    return planned[::-1]


def _planned_defaults(planned: PlannedReminder) -> dict[str, Any]:
    status = ReminderStatus.SKIPPED if planned.skipped else ReminderStatus.PENDING
    return {"send_at": planned.send_at, "status": status}


def _wants_reminders(patient: Patient) -> bool:
    return bool(patient.reminders_opt_in and patient.email and patient.status == PatientStatus.ACTIVE)


def _cancel(rows: QuerySet[Reminder]) -> int:
    # A claimed row has not reached the email backend yet: its worker hands it over only while it
    # is still `claimed` under its lease, so cancelling it here stops the message.
    return rows.filter(status__in=[ReminderStatus.PENDING, ReminderStatus.CLAIMED]).update(
        status=ReminderStatus.CANCELLED
    )


@transaction.atomic
def reminders_sync_appointment(*, appointment: Appointment, now: datetime.datetime | None = None) -> int:
    """Make the appointment's pending reminders match it: cancelled when it is, recomputed when it
    moves (the old rows are cancelled, new ones made for the new time). Returns rows created."""
    now = now or timezone.now()
    pending = Reminder.objects.filter(appointment=appointment, kind=ReminderKind.APPOINTMENT)
    if appointment.attendance_status != AttendanceStatus.SCHEDULED or not _wants_reminders(appointment.patient):
        _cancel(pending)
        return 0
    _cancel(pending.exclude(starts_at=appointment.starts_at))
    clinic = appointment.patient.clinic
    created = 0
    for planned in reminder_plan(starts_at=appointment.starts_at, clinic=clinic, now=now):
        _, made = Reminder.objects.get_or_create(
            appointment=appointment,
            kind=ReminderKind.APPOINTMENT,
            offset_minutes=planned.offset_minutes,
            starts_at=appointment.starts_at,
            defaults={"clinic": clinic, "patient": appointment.patient, **_planned_defaults(planned)},
        )
        created += made
    return created


@transaction.atomic
def reminders_sync_group_session(*, session: GroupSession, now: datetime.datetime | None = None) -> int:
    """Reminders for the members of a group on the session's date."""
    now = now or timezone.now()
    pending = Reminder.objects.filter(group_session=session)
    if session.cancelled:
        _cancel(pending)
        return 0
    _cancel(pending.exclude(starts_at=session.starts_at))
    clinic = session.group.clinic
    day = session.starts_at.astimezone(clinic.zone).date()
    members = (
        Patient.objects.filter(
            group_memberships__group=session.group,
            group_memberships__joined_on__lte=day,
        )
        .exclude(group_memberships__left_on__lt=day)
        .distinct()
    )
    return sum(_group_session_rows(session=session, patient=patient, clinic=clinic, now=now) for patient in members)


def _group_session_rows(*, session: GroupSession, patient: Patient, clinic: Clinic, now: datetime.datetime) -> int:
    if not _wants_reminders(patient):
        return 0
    created = 0
    for planned in reminder_plan(starts_at=session.starts_at, clinic=clinic, now=now):
        _, made = Reminder.objects.get_or_create(
            group_session=session,
            patient=patient,
            kind=ReminderKind.GROUP_SESSION,
            offset_minutes=planned.offset_minutes,
            starts_at=session.starts_at,
            defaults={"clinic": clinic, **_planned_defaults(planned)},
        )
        created += made
    return created


@transaction.atomic
def reminders_sync_patient(*, patient: Patient, now: datetime.datetime | None = None) -> int:
    """After a patient's opt-in, email or status changed: reminders for every session they are
    already booked into (as booking would have made them), or, if they no longer get reminders,
    none pending. Returns rows created."""
    now = now or timezone.now()
    if not _wants_reminders(patient):
        _cancel(Reminder.objects.filter(patient=patient))
        return 0
    clinic = patient.clinic
    created = 0
    appointments = Appointment.objects.filter(
        patient=patient, starts_at__gt=now, attendance_status=AttendanceStatus.SCHEDULED
    ).order_by("starts_at")
    for appointment in appointments:
        appointment.patient = patient
        created += reminders_sync_appointment(appointment=appointment, now=now)
    memberships = list(GroupMembership.objects.filter(patient=patient))
    sessions = GroupSession.objects.filter(
        group_id__in={membership.group_id for membership in memberships}, starts_at__gt=now, cancelled=False
    ).order_by("starts_at")
    for session in sessions:
        day = session.starts_at.astimezone(clinic.zone).date()
        if any(
            m.group_id == session.group_id and m.joined_on <= day and (m.left_on is None or m.left_on >= day)
            for m in memberships
        ):
            created += _group_session_rows(session=session, patient=patient, clinic=clinic, now=now)
    return created


@transaction.atomic
def reminders_sync_group_membership(*, membership: GroupMembership, now: datetime.datetime | None = None) -> int:
    """A patient joined or left a group: reminders for the group's sessions already booked on the
    days the membership covers (as booking them would have made), none pending for the days after
    it ended. Returns rows created."""
    now = now or timezone.now()
    patient = membership.patient
    clinic = membership.group.clinic
    created = 0
    sessions = GroupSession.objects.filter(group_id=membership.group_id, starts_at__gt=now, cancelled=False)
    for session in sessions.order_by("starts_at"):
        day = session.starts_at.astimezone(clinic.zone).date()
        if membership.joined_on <= day and (membership.left_on is None or membership.left_on >= day):
            created += _group_session_rows(session=session, patient=patient, clinic=clinic, now=now)
        else:
            _cancel(Reminder.objects.filter(group_session=session, patient=patient))
    return created


@transaction.atomic
def reminder_missed_session(*, appointment: Appointment, now: datetime.datetime | None = None) -> Reminder | None:
    """'We missed you, call us' after a no-show, where the clinic has turned it on.

    It waits the clinic's grace period from `now` (when the no-show is recorded): a mark taken back
    or corrected meanwhile withdraws it (`reminder_missed_session_withdraw`), so a mis-click never
    reaches the patient. Due in quiet hours, it goes when they end. A note withdrawn and never sent
    is planned again when the no-show is recorded again."""
    now = now or timezone.now()
    clinic = appointment.patient.clinic
    if not clinic.missed_session_message or not _wants_reminders(appointment.patient):
        return None
    due = now + datetime.timedelta(minutes=clinic.missed_session_grace_minutes)
    send_at = due
    if allowed_send_at(due, clinic) != due:
        # In quiet hours: the next morning, when they end.
        local_day = due.astimezone(clinic.zone).date()
        morning = _local(local_day, clinic.quiet_hours_end, clinic.zone)
        send_at = (
            morning
            if morning > due
            else _local(local_day + datetime.timedelta(days=1), clinic.quiet_hours_end, clinic.zone)
        )
    reminder, made = Reminder.objects.select_for_update().get_or_create(
        appointment=appointment,
        kind=ReminderKind.MISSED_SESSION,
        offset_minutes=0,
        starts_at=appointment.starts_at,
        defaults={"clinic": clinic, "patient": appointment.patient, "send_at": send_at},
    )
    if not made and reminder.status == ReminderStatus.CANCELLED and reminder.attempts == 0:
        # Withdrawn before any hand-off to the email backend: nothing reached the patient. A
        # worker that had claimed it lost it with the cancellation (its lease is cleared here).
        reminder.status = ReminderStatus.PENDING
        reminder.send_at = send_at
        reminder.claimed_at = None
        reminder.lease_expires_at = None
        reminder.save(update_fields=["status", "send_at", "claimed_at", "lease_expires_at", "updated_at"])
    return reminder


def reminder_missed_session_withdraw(*, appointment: Appointment) -> int:
    """The no-show was taken back (undone or corrected): a 'we missed you' not yet sent stays unsent."""
    return _cancel(Reminder.objects.filter(appointment=appointment, kind=ReminderKind.MISSED_SESSION))
