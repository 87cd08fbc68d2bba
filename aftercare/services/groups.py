"""Support groups: membership, sessions, attendance taken for a whole session at once, and
meetings outside the clinic that patients report themselves."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from aftercare.models import (
    GroupAttendance,
    GroupAttendanceStatus,
    GroupMembership,
    GroupSession,
    OutsideMeeting,
    SupportGroup,
)
from aftercare.services.appointments import may_correct_attendance
from aftercare.services.reminders import reminders_sync_group_membership, reminders_sync_group_session
from aftercare.services.risk import risk_evaluate_after_commit
from clinic.auth.caller import Caller
from clinic.errors import Conflict
from clinic.models import Patient


@transaction.atomic
def support_group_create(*, by: Caller, **fields: Any) -> SupportGroup:
    group = SupportGroup(clinic=by.clinic, **fields)
    group.full_clean(exclude=["clinic"], validate_constraints=False)
    if SupportGroup.objects.filter(clinic=by.clinic, name=group.name).exists():
        raise ValidationError({"name": "This clinic already has a group with that name."})
    group.save(force_insert=True)
    return group


@transaction.atomic
def support_group_update(*, group: SupportGroup, **fields: Any) -> SupportGroup:
    locked = SupportGroup.objects.select_for_update().get(pk=group.pk)
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.full_clean(exclude=["clinic"], validate_constraints=False)
    if SupportGroup.objects.filter(clinic=locked.clinic_id, name=locked.name).exclude(pk=locked.pk).exists():
        raise ValidationError({"name": "This clinic already has a group with that name."})
    locked.save()
    return locked


@transaction.atomic
def group_membership_add(*, group: SupportGroup, patient: Patient, joined_on: datetime.date) -> GroupMembership:
    if GroupMembership.objects.filter(group=group, patient=patient, left_on__isnull=True).exists():
        raise Conflict({"patient": "Already a member of this group."})
    membership = GroupMembership(group=group, patient=patient, joined_on=joined_on)
    membership.full_clean(exclude=["group", "patient"], validate_constraints=False)
    try:
        with transaction.atomic():
            membership.save(force_insert=True)
    except IntegrityError:
        raise Conflict({"patient": "Already a member of this group."}) from None
    reminders_sync_group_membership(membership=membership)
    return membership


@transaction.atomic
def group_membership_end(*, membership: GroupMembership, left_on: datetime.date) -> GroupMembership:
    locked = GroupMembership.objects.select_for_update().get(pk=membership.pk)
    if locked.left_on is not None:
        raise Conflict({"left_on": "This membership has already ended."})
    if left_on < locked.joined_on:
        raise ValidationError({"left_on": "Must not be before joined_on."})
    locked.left_on = left_on
    locked.save(update_fields=["left_on", "updated_at"])
    reminders_sync_group_membership(membership=locked)
    return locked


@transaction.atomic
def group_session_create(*, group: SupportGroup, **fields: Any) -> GroupSession:
    session = GroupSession(group=group, **fields)
    if session.ends_at <= session.starts_at:
        raise ValidationError({"ends_at": "Must be after starts_at."})
    session.full_clean(exclude=["group"], validate_constraints=False)
    session.save(force_insert=True)
    reminders_sync_group_session(session=session)
    return session


# One entry of a session's attendance: (patient, status) or (patient, status, reason); the reason
# is needed only to change a status already recorded.
AttendanceEntry = tuple[Patient, str] | tuple[Patient, str, str]


@transaction.atomic
def group_session_attendance_record(
    *,
    session: GroupSession,
    entries: Sequence[AttendanceEntry],
    by: Caller,
    now: datetime.datetime | None = None,
) -> list[GroupAttendance]:
    """Record everyone's attendance at a session in one go: all of it is saved, or none of it.

    A first recording needs no reason. Changing a status already recorded is a correction, as for
    appointments: it needs a reason (for that entry) and a clinical role or the EHR. An entry that
    repeats the recorded status leaves the row as it was."""
    now = now or timezone.now()
    locked = GroupSession.objects.select_for_update().get(pk=session.pk)
    if locked.cancelled:
        raise Conflict({"attendance": "This session was cancelled."})
    if locked.starts_at > now:
        raise ValidationError({"attendance": "Attendance cannot be recorded before the session starts."})
    parsed: list[tuple[Patient, str, str]] = []
    errors: dict[str, str] = {}
    seen: set[Any] = set()
    for index, entry in enumerate(entries):
        patient, status = entry[0], entry[1]
        reason = entry[2].strip() if len(entry) > 2 else ""
        if patient.pk in seen:
            errors[f"attendance.{index}.patient"] = "Listed twice."
        seen.add(patient.pk)
        if status not in GroupAttendanceStatus.values:
            errors[f"attendance.{index}.status"] = f"{status!r} is not a group attendance status."
        parsed.append((patient, status, reason))
    if errors:
        raise ValidationError(errors)
    existing = {row.patient_id: row for row in GroupAttendance.objects.select_for_update().filter(session=locked)}
    corrections = [
        (index, reason)
        for index, (patient, status, reason) in enumerate(parsed)
        if patient.pk in existing and existing[patient.pk].status != status
    ]
    if corrections and not may_correct_attendance(by):
        raise PermissionDenied("Only clinical staff may correct recorded attendance.")
    for index, reason in corrections:
        if not reason:
            errors[f"attendance.{index}.reason"] = "Say why the recorded attendance is being corrected."
    if errors:
        raise ValidationError(errors)
    result, added, corrected = [], [], []
    for patient, status, reason in parsed:
        row = existing.get(patient.pk)
        if row is None:
            row = GroupAttendance(session=locked, patient=patient, status=status)
            added.append(row)
        elif row.status != status:
            row.status, row.reason = status, reason
            corrected.append(row)
        else:
            result.append(row)
            continue
        row.recorded_by = by.user
        row.recorded_by_client = by.client
        result.append(row)
    GroupAttendance.objects.bulk_create(added)  # one statement, whatever the group's size
    for row in corrected:
        row.save(update_fields=["status", "recorded_by", "recorded_by_client", "reason", "updated_at"])
    risk_evaluate_after_commit([patient.pk for patient, _status, _reason in parsed])
    return result


@transaction.atomic
def outside_meeting_record(*, by: Caller, patient: Patient, **fields: Any) -> OutsideMeeting:
    meeting = OutsideMeeting(clinic=by.clinic, patient=patient, **fields)
    if meeting.date > timezone.localdate(timezone=by.clinic.zone):
        raise ValidationError({"date": "A meeting the patient went to cannot be in the future."})
    meeting.full_clean(exclude=["clinic", "patient"], validate_constraints=False)
    meeting.save(force_insert=True)
    return meeting
