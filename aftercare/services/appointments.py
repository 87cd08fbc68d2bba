"""Booking, moving and recording attendance. A clinician is never double-booked (checked here for
a clear error, and enforced by a database trigger against races)."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone

from aftercare.models import (
    CANCELLED_STATUSES,
    OUTCOME_STATUSES,
    Appointment,
    AttendanceRecord,
    AttendanceStatus,
)
from aftercare.services.reminders import (
    reminder_missed_session,
    reminder_missed_session_withdraw,
    reminders_sync_appointment,
)
from aftercare.services.risk import risk_evaluate_after_commit
from clinic.auth.caller import Caller
from clinic.errors import Conflict
from clinic.models import CARE_ROLES, Clinic

BOOKING_FIELDS = (
    "patient",
    "clinician",
    "activity",
    "kind",
    "starts_at",
    "ends_at",
    "location",
    "telehealth_url",
)
MOVABLE_FIELDS = ("clinician", "starts_at", "ends_at", "location", "telehealth_url")
_OVERLAP = "The clinician already has an appointment at this time."


def overlapping(appointment: Appointment) -> bool:
    return (
        Appointment.objects.filter(
            clinician_id=appointment.clinician_id,
            starts_at__lt=appointment.ends_at,
            ends_at__gt=appointment.starts_at,
        )
        .exclude(pk=appointment.pk)
        .exclude(attendance_status__in=CANCELLED_STATUSES)
        .exists()
    )


def _validate(appointment: Appointment) -> None:
    errors: dict[str, str] = {}
    if appointment.ends_at <= appointment.starts_at:
        errors["ends_at"] = "Must be after starts_at."
    elif appointment.ends_at - appointment.starts_at > datetime.timedelta(hours=12):
        errors["ends_at"] = "An appointment lasts at most 12 hours."
    activity = appointment.activity
    if activity is not None and activity.plan.patient_id != appointment.patient_id:
        errors["activity"] = "This activity belongs to another patient's plan."
    if errors:
        raise ValidationError(errors)
    appointment.full_clean(exclude=["clinic", "patient", "clinician", "activity", "series"], validate_constraints=False)
    if appointment.attendance_status not in CANCELLED_STATUSES and overlapping(appointment):
        raise ValidationError({"starts_at": _OVERLAP})


def save_checked(appointment: Appointment, **save_kwargs: Any) -> None:
    """Save, turning the database's double-booking refusal (a lost race) into the same 400."""
    try:
        with transaction.atomic():
            appointment.save(**save_kwargs)
    except IntegrityError as exc:
        if "appointment_clinician_overlap" in str(exc):
            raise ValidationError({"starts_at": _OVERLAP}) from None
        raise


@transaction.atomic
def appointment_book(*, by: Caller, **fields: Any) -> Appointment:
    unknown = set(fields) - set(BOOKING_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "This field cannot be set."))
    appointment = Appointment(clinic=by.clinic, **fields)
    _validate(appointment)
    save_checked(appointment, force_insert=True)
    reminders_sync_appointment(appointment=appointment)
    return appointment


@transaction.atomic
def appointment_move(*, appointment: Appointment, **fields: Any) -> Appointment:
    unknown = set(fields) - set(MOVABLE_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "Cannot be changed once booked."))
    # 404, not a crash, when the appointment went between the caller's read and this lock (an
    # occurrence its series dropped on ending or editing the series).
    locked = get_object_or_404(
        Appointment.objects.select_for_update(of=("self",)).select_related("activity__plan"), pk=appointment.pk
    )
    if locked.attendance_status != AttendanceStatus.SCHEDULED:
        raise Conflict(
            {"attendance_status": f"This appointment is marked {locked.attendance_status}: it cannot be changed."}
        )
    changed = [name for name, value in fields.items() if getattr(locked, name) != value]
    for name, value in fields.items():
        setattr(locked, name, value)
    if not changed:
        return locked
    _validate(locked)
    if locked.series_id is not None:
        locked.detached = True
        changed.append("detached")
    save_checked(locked, update_fields=[*changed, "updated_at"])
    reminders_sync_appointment(appointment=locked)
    return locked


def may_correct_attendance(by: Caller) -> bool:
    # Front desk records what happened; changing a recorded outcome is for clinical staff, or
    # the EHR, which is the clinic's system of record.
    return by.client is not None or by.role in CARE_ROLES


def undo_window() -> datetime.timedelta:
    return datetime.timedelta(seconds=settings.AFTERCARE_ATTENDANCE_UNDO_SECONDS)


def attendance_undoable(appointment: Appointment, *, by: Caller, now: datetime.datetime) -> bool:
    """Whether `by` may still take back the recorded mark without a reason: a staff member, the
    one who made it, within the undo window (a mis-click is not a correction)."""
    return (
        appointment.attendance_status != AttendanceStatus.SCHEDULED
        and by.client is None
        and by.user is not None
        and appointment.attendance_recorded_by_id == by.user.pk
        and appointment.attendance_recorded_by_client_id is None
        and appointment.attendance_recorded_at is not None
        and now - appointment.attendance_recorded_at <= undo_window()
    )


@transaction.atomic
def attendance_record(
    *, appointment: Appointment, status: str, by: Caller, reason: str = "", now: datetime.datetime | None = None
) -> Appointment:
    """Record (or correct) what happened. Every change is kept in the attendance history.

    The staff member who recorded a mark may change it (back to `scheduled` too) within
    AFTERCARE_ATTENDANCE_UNDO_SECONDS without a reason; after that, or for anyone else, a change
    is a correction: it needs a reason and a clinical role (or the EHR)."""
    now = now or timezone.now()
    locked = get_object_or_404(Appointment.objects.select_for_update(), pk=appointment.pk)  # see appointment_move
    previous = locked.attendance_status
    if status not in AttendanceStatus.values:
        raise ValidationError({"status": f"{status!r} is not an attendance status."})
    if status == previous:
        raise Conflict({"status": f"The appointment is already {status}."})
    if status in OUTCOME_STATUSES and locked.starts_at > now:
        raise ValidationError({"status": "Attendance cannot be recorded before the appointment starts."})
    if status == AttendanceStatus.LATE_CANCELLED and locked.starts_at - now > datetime.timedelta(days=1):
        raise ValidationError({"status": "A cancellation more than a day ahead is 'cancelled', not 'late_cancelled'."})
    undoing = attendance_undoable(locked, by=by, now=now)
    correcting = previous != AttendanceStatus.SCHEDULED and not undoing
    if correcting:
        if not may_correct_attendance(by):
            raise PermissionDenied("Only clinical staff may correct recorded attendance.")
        if not reason.strip():
            raise ValidationError({"reason": "Say why the recorded attendance is being corrected."})
    if status == AttendanceStatus.SCHEDULED and locked.starts_at <= now and not undoing:
        raise ValidationError({"status": "Only a future appointment can go back to 'scheduled'."})
    locked.attendance_status = status
    locked.attendance_recorded_at = now
    locked.attendance_recorded_by = by.user
    locked.attendance_recorded_by_client = by.client
    update = ["attendance_status", "attendance_recorded_at", "attendance_recorded_by", "attendance_recorded_by_client"]
    if locked.series_id is not None and status in CANCELLED_STATUSES:
        locked.detached = True
        update.append("detached")
    save_checked(locked, update_fields=[*update, "updated_at"])
    AttendanceRecord.objects.create(
        appointment=locked,
        status=status,
        previous_status=previous,
        recorded_at=now,
        recorded_by=by.user,
        recorded_by_client=by.client,
        reason=reason.strip(),
    )
    reminders_sync_appointment(appointment=locked, now=now)
    if status == AttendanceStatus.MISSED and previous == AttendanceStatus.SCHEDULED:
        reminder_missed_session(appointment=locked, now=now)
    elif previous == AttendanceStatus.MISSED:
        reminder_missed_session_withdraw(appointment=locked)
    risk_evaluate_after_commit([locked.patient_id])
    return locked


def checkin_opens_at(appointment: Appointment, clinic: Clinic) -> datetime.datetime:
    return appointment.starts_at - datetime.timedelta(minutes=clinic.checkin_opens_minutes)


def checkin_open(appointment: Appointment, *, clinic: Clinic, now: datetime.datetime) -> bool:
    """Whether the patient may be checked in now (to offer the button; the service decides)."""
    return (
        appointment.arrived_at is None
        and appointment.attendance_status == AttendanceStatus.SCHEDULED
        and checkin_opens_at(appointment, clinic) <= now <= appointment.ends_at
    )


@transaction.atomic
def appointment_check_in(*, appointment: Appointment, by: Caller, now: datetime.datetime | None = None) -> Appointment:
    """The patient arrived. Not attendance: they are marked attended or late afterwards.

    Check-in opens the clinic's `checkin_opens_minutes` before the start and closes when the
    appointment ends."""
    now = now or timezone.now()
    locked = get_object_or_404(
        Appointment.objects.select_for_update(of=("self",)).select_related("clinic"), pk=appointment.pk
    )
    if locked.attendance_status in CANCELLED_STATUSES:
        raise Conflict({"attendance_status": "A cancelled appointment cannot be checked in."})
    if locked.attendance_status != AttendanceStatus.SCHEDULED:
        raise Conflict({"attendance_status": "Attendance is already recorded for this appointment."})
    if locked.arrived_at is not None:
        raise Conflict({"arrived_at": "The patient is already checked in."})
    opens = checkin_opens_at(locked, locked.clinic)
    if now < opens:
        local = timezone.localtime(opens, locked.clinic.zone)
        raise ValidationError({"arrived_at": f"Check-in opens at {local:%H:%M} ({local:%a %d %b})."})
    if now > locked.ends_at:
        raise ValidationError({"arrived_at": "The appointment is over: record its attendance instead."})
    locked.arrived_at = now
    locked.arrived_by = by.user
    locked.save(update_fields=["arrived_at", "arrived_by", "updated_at"])
    return locked
