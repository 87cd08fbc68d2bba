"""Claiming due rows for one worker, and settling the rows of workers that stopped."""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from aftercare.models import Reminder, ReminderStatus
from clinic.models import Patient, PatientStatus

logger = logging.getLogger(__name__)

BATCH_SIZE = 200
IN_DOUBT_REASON = "interrupted while sending; may have been delivered, not resent"


@dataclass(frozen=True)
class RecoveryResult:
    released: int  # claimed by a worker that stopped before sending them: pending again
    in_doubt: int  # a worker stopped while sending them: maybe delivered, never resent


def lease_length() -> datetime.timedelta:
    return datetime.timedelta(seconds=settings.AFTERCARE_REMINDER_LEASE_SECONDS)


_TABLE = Reminder._meta.db_table
_PATIENTS = Patient._meta.db_table
# Statuses of a reminder that has reached, or is on its way to, the patient.
_GOING_OUT = [
    status.value
    for status in (ReminderStatus.CLAIMED, ReminderStatus.SENDING, ReminderStatus.SENT, ReminderStatus.IN_DOUBT)
]
# A reminder closer to the session (a smaller offset) of the same session and patient, due now or
# already on its way: the one in `c` is superseded. Two EXISTS, each on the columns of one of the
# unique constraints, so each is an index probe.
_SUPERSEDED = f"""(
    EXISTS (
        SELECT 1 FROM {_TABLE} s
        WHERE s.appointment_id = c.appointment_id AND s.kind = c.kind AND s.starts_at = c.starts_at
            AND s.offset_minutes < c.offset_minutes
            AND (s.status = ANY(%(going_out)s::text[]) OR (s.status = %(pending)s AND s.send_at <= %(now)s))
    ) OR EXISTS (
        SELECT 1 FROM {_TABLE} s
        WHERE s.group_session_id = c.group_session_id AND s.patient_id = c.patient_id AND s.kind = c.kind
            AND s.starts_at = c.starts_at AND s.offset_minutes < c.offset_minutes
            AND (s.status = ANY(%(going_out)s::text[]) OR (s.status = %(pending)s AND s.send_at <= %(now)s))
    )
)"""  # noqa: S608 (the table name is the model's; every value is a parameter)
# The claim of the locked rows, in one statement. A row that would be sent (its session has not
# started, its patient still wants reminders) but is superseded becomes `skipped`; the rest are
# leased to this worker as `claimed`, to be sent or settled one by one.
_CLAIM = f"""
UPDATE {_TABLE} r SET
    status = CASE WHEN d.superseded THEN %(skipped)s ELSE %(claimed)s END,
    claimed_at = CASE WHEN d.superseded THEN r.claimed_at ELSE %(now)s::timestamptz END,
    lease_expires_at = CASE WHEN d.superseded THEN NULL ELSE %(lease)s::timestamptz END
FROM (
    SELECT c.id,
        c.starts_at > %(now)s AND p.reminders_opt_in AND p.email <> '' AND p.status = %(active)s
            AND {_SUPERSEDED} AS superseded
    FROM {_TABLE} c JOIN {_PATIENTS} p ON p.id = c.patient_id
    WHERE c.id = ANY(%(ids)s::uuid[])
) d
WHERE r.id = d.id AND r.status = %(pending)s
RETURNING r.status
"""  # noqa: S608 (as above)


@dataclass(frozen=True)
class Claim:
    rows: list[Reminder]  # leased to this worker, to send
    skipped: int  # superseded by a reminder closer to the session, never to be sent


def reminders_claim(*, now: datetime.datetime, batch_size: int = BATCH_SIZE) -> Claim:
    """Lease up to `batch_size` due rows to this worker. Each returned row carries its lease in
    `lease_expires_at`: the token every later write about it must present.

    Of one session's reminders to one patient, only the one closest to the session goes out when
    several are due together (a dispatcher that was down, a retry that came due after a later
    reminder): the others become `skipped`, in the statement that claims them. Workers racing over
    one session's rows cannot both send: a row is skipped when a closer one is pending and due in
    this statement's snapshot (whoever locked it will claim it; nothing but a change to the
    session or the patient, which ends every row of the session alike, stops it), or already
    claimed or further on. The closest due row itself is never skipped, so someone sends it."""
    lease = now + lease_length()
    with transaction.atomic():
        ids = list(
            Reminder.objects.select_for_update(skip_locked=True)
            .filter(status=ReminderStatus.PENDING, send_at__lte=now)
            .order_by("send_at")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return Claim(rows=[], skipped=0)
        params: dict[str, Any] = {
            "ids": ids,
            "now": now,
            "lease": lease,
            "pending": ReminderStatus.PENDING,
            "claimed": ReminderStatus.CLAIMED,
            "skipped": ReminderStatus.SKIPPED,
            "going_out": _GOING_OUT,
            "active": PatientStatus.ACTIVE,
        }
        with connection.cursor() as cursor:
            cursor.execute(_CLAIM, params)
            outcomes = [row[0] for row in cursor.fetchall()]
    skipped = outcomes.count(ReminderStatus.SKIPPED)
    if skipped == len(outcomes):
        return Claim(rows=[], skipped=skipped)
    # In the order they fell due: a pass that runs out of time has sent the earliest.
    rows = list(
        Reminder.objects.filter(pk__in=ids, status=ReminderStatus.CLAIMED, lease_expires_at=lease)
        .select_related("clinic", "patient", "appointment", "group_session", "group_session__group")
        .order_by("send_at", "starts_at", "pk")
    )
    return Claim(rows=rows, skipped=skipped)


def reminders_recover_stuck(*, now: datetime.datetime | None = None) -> RecoveryResult:
    """Rows of workers that stopped (died, or were killed) before finishing them, once their lease
    has run out: those never handed to the backend are pending again; the one each worker was
    sending is in doubt, and is not resent."""
    now = now or timezone.now()
    released = Reminder.objects.filter(status=ReminderStatus.CLAIMED, lease_expires_at__lte=now).update(
        status=ReminderStatus.PENDING, lease_expires_at=None
    )
    # The lease stays: the worker, should it still be alive and learn the outcome, may record it.
    in_doubt = Reminder.objects.filter(status=ReminderStatus.SENDING, lease_expires_at__lte=now).update(
        status=ReminderStatus.IN_DOUBT, last_error=IN_DOUBT_REASON
    )
    if in_doubt:
        logger.warning("%d reminders interrupted while sending: marked in doubt, not resent", in_doubt)
    return RecoveryResult(released=released, in_doubt=in_doubt)
