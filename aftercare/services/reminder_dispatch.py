"""Sending due reminders: each is claimed by exactly one worker, sent at most once, and a worker's
death leaves in doubt only the message it was sending at that moment.

A row moves `pending` → `claimed` → `sending` → `sent` (or `failed`, or back to `pending` for a
retry). The claim is `SELECT … FOR UPDATE SKIP LOCKED` then `status = 'claimed'` with a lease, in
one transaction, so any number of workers and beats running at once never take the same batch.
Each row becomes `sending` in its own committed statement just before its message is handed to
the email backend, and its outcome is written as soon as the backend returns (in the same round
trip as the next row's hand-off, so a message costs one statement).

If the worker dies, `reminders_recover_stuck` settles its rows once their lease has run out:
rows still `claimed` never reached the backend and are `pending` again, for the next pass to send;
a row left `sending` may or may not have gone out and becomes `in_doubt`, visible to staff and
never resent. Every write a worker makes is conditional on its lease (the exact
`lease_expires_at` it set), so a worker that was merely slow cannot touch a row another one has
since taken over.
"""

from __future__ import annotations

import datetime
import logging
import random
import smtplib
import socket
from dataclasses import dataclass, field
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core import mail
from django.core.mail.message import make_msgid
from django.core.mail.utils import DNS_NAME
from django.db import connection, transaction
from django.utils import timezone

from aftercare.models import AttendanceStatus, Reminder, ReminderKind, ReminderStatus
from clinic.models import Patient, PatientStatus

logger = logging.getLogger(__name__)

BATCH_SIZE = 200
MAX_ATTEMPTS = 5
IN_DOUBT_REASON = "interrupted while sending; may have been delivered, not resent"

# Failures worth another try: the network or the provider being down, not the message.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    smtplib.SMTPServerDisconnected,
    smtplib.SMTPConnectError,
    smtplib.SMTPHeloError,
    socket.timeout,
    ConnectionError,
    TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TRANSIENT_ERRORS):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500  # 4xx: try again later (RFC 5321); 5xx: permanent
    # A provider's HTTP API (django-anymail): rate limits and server errors pass.
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and (status == 429 or status >= 500)


@dataclass
class DispatchResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    expired: int = 0
    cancelled: int = 0
    # Superseded by a reminder of the same session closer to it, due at the same pass or sent.
    skipped: int = 0
    # Claimed, then taken over by another worker after this one's lease ran out: not ours to send.
    lost: int = 0
    # Settled before the pass by `reminders_recover_stuck`.
    released: int = 0
    in_doubt: int = 0
    ids: list[Any] = field(default_factory=list)

    @property
    def claimed(self) -> int:
        return self.sent + self.retried + self.failed + self.expired + self.cancelled + self.lost + self.skipped


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
    rows = list(
        Reminder.objects.filter(pk__in=ids, status=ReminderStatus.CLAIMED, lease_expires_at=lease).select_related(
            "clinic", "patient", "appointment", "group_session", "group_session__group"
        )
    )
    return Claim(rows=rows, skipped=skipped)


@dataclass
class _Outcome:
    reminder: Reminder
    status: str
    sent_at: datetime.datetime | None = None
    message_id: str | None = None
    error: str | None = None
    send_at: datetime.datetime | None = None


# One round trip: the outcome of one row (if any) and the hand-off of the next (if any). Each half
# is conditional on the row's status and this worker's lease, and reports whether it applied.
# The lease is compared with IS NOT DISTINCT FROM so that the row is found by its primary key: a
# batch shares one lease, and the recovery index on it would walk the whole batch for each row.
_WRITE = f"""
WITH done AS (
    UPDATE {_TABLE} SET
        status = %(status)s,
        sent_at = COALESCE(%(sent_at)s::timestamptz, sent_at),
        provider_message_id = COALESCE(%(message_id)s::text, provider_message_id),
        last_error = COALESCE(%(error)s::text, last_error),
        send_at = COALESCE(%(send_at)s::timestamptz, send_at),
        lease_expires_at = NULL
    WHERE id = %(done_id)s::uuid AND status = ANY(%(done_from)s::text[])
        AND lease_expires_at IS NOT DISTINCT FROM %(done_lease)s::timestamptz
    RETURNING 1
), handed AS (
    UPDATE {_TABLE} SET status = %(sending)s, lease_expires_at = %(lease)s::timestamptz, attempts = attempts + 1
    WHERE id = %(next_id)s::uuid AND status = %(claimed)s
        AND lease_expires_at IS NOT DISTINCT FROM %(next_lease)s::timestamptz
    RETURNING 1
)
SELECT (SELECT count(*) FROM done), (SELECT count(*) FROM handed)
"""  # noqa: S608 (the table name is the model's; every value is a parameter)

_RENEW = f"""
UPDATE {_TABLE} SET lease_expires_at = %s
WHERE id = ANY(%s::uuid[]) AND status = %s AND lease_expires_at = %s
RETURNING id
"""  # noqa: S608 (as above)


class _Ledger:
    """This worker's writes about its rows, each committed before the next step depends on it.

    A message's outcome is held until the next hand-off (or the end of the batch) and written in
    the same statement: between the backend returning and that statement, a death leaves the
    message in doubt, as it would a moment earlier."""

    def __init__(self) -> None:
        self.unwritten: _Outcome | None = None

    def _write(self, done: _Outcome | None, handing: Reminder | None) -> bool:
        lease = timezone.now() + lease_length()
        params: dict[str, Any] = {
            "status": None,
            "sent_at": None,
            "message_id": None,
            "error": None,
            "send_at": None,
            "done_id": None,
            "done_from": [],
            "done_lease": None,
            "sending": ReminderStatus.SENDING,
            "claimed": ReminderStatus.CLAIMED,
            "lease": lease,
            "next_id": handing.pk if handing else None,
            "next_lease": handing.lease_expires_at if handing else None,
        }
        if done is not None:
            reminder = done.reminder
            # A row marked in doubt while its send was slow is settled by the worker that knows.
            done_from = (
                [ReminderStatus.SENDING, ReminderStatus.IN_DOUBT]
                if reminder.status == ReminderStatus.SENDING
                else [ReminderStatus.CLAIMED]
            )
            params.update(
                status=done.status,
                sent_at=done.sent_at,
                message_id=done.message_id,
                error=None if done.error is None else done.error[:200],
                send_at=done.send_at,
                done_id=reminder.pk,
                done_from=done_from,
                done_lease=reminder.lease_expires_at,
            )
        with connection.cursor() as cursor:
            cursor.execute(_WRITE, params)
            row = cursor.fetchone()
        assert row is not None  # noqa: S101 (a SELECT of two counts always returns its row)
        if done is not None and not row[0]:
            logger.warning("reminder %s: outcome %s not recorded (not this worker's)", done.reminder.pk, done.status)
        if handing is not None and row[1]:
            handing.status = ReminderStatus.SENDING
            handing.lease_expires_at = lease
            handing.attempts += 1
            return True
        return False

    def hand_off(self, reminder: Reminder) -> bool:
        """Mark the row in flight, just before its message goes to the backend. False: another
        worker has it now, and it must not be sent from here."""
        done, self.unwritten = self.unwritten, None
        return self._write(done, reminder)

    def settle(self, outcome: _Outcome) -> None:
        """The outcome of the message in flight, written with the next statement."""
        self.flush()
        self.unwritten = outcome

    def finish(self, outcome: _Outcome) -> None:
        """An outcome written at once (rows that never reach the backend)."""
        self.flush()
        self._write(outcome, None)

    def flush(self) -> None:
        if self.unwritten is not None:
            done, self.unwritten = self.unwritten, None
            self._write(done, None)

    def renew(self, reminders: list[Reminder]) -> None:
        """Extend the lease of rows still waiting: a slow backend must not let another worker take
        rows this one is about to send. A row another worker has taken meanwhile keeps its lease
        (and its hand-off from here will fail)."""
        waiting = [r for r in reminders if r.status == ReminderStatus.CLAIMED]
        tokens = {r.lease_expires_at for r in waiting}
        lease = timezone.now() + lease_length()
        with connection.cursor() as cursor:
            for token in tokens:
                ids = [r.pk for r in waiting if r.lease_expires_at == token]
                cursor.execute(_RENEW, [lease, ids, ReminderStatus.CLAIMED, token])
                renewed = {row[0] for row in cursor.fetchall()}
                for reminder in waiting:
                    if reminder.pk in renewed:
                        reminder.lease_expires_at = lease


def _backoff(attempts: int) -> datetime.timedelta:
    # Exponential with jitter, so a provider outage is not hit by every row at the same second.
    return datetime.timedelta(seconds=min(3600, 30 * 2 ** (attempts - 1)) * random.uniform(0.8, 1.2))  # noqa: S311


def reminders_dispatch(
    *, now: datetime.datetime | None = None, batch_size: int = BATCH_SIZE, connection: Any = None
) -> DispatchResult:
    """One pass: claim a batch of due rows and deal with each. Safe to run anywhere, any number
    of times at once."""
    from aftercare.reminders.compose import compose
    from aftercare.reminders.email import InvalidContent

    now = now or timezone.now()
    result = DispatchResult()
    claim = reminders_claim(now=now, batch_size=batch_size)
    result.skipped = claim.skipped
    claimed = claim.rows
    if not claimed:
        return result
    ledger = _Ledger()
    to_send = []
    for reminder in claimed:
        result.ids.append(reminder.pk)
        patient = reminder.patient
        if reminder.kind != ReminderKind.MISSED_SESSION and reminder.starts_at <= now:
            ledger.finish(_Outcome(reminder, ReminderStatus.EXPIRED))
            result.expired += 1
        elif not (patient.reminders_opt_in and patient.email and patient.status == PatientStatus.ACTIVE) or (
            # The no-show was changed without the attendance service, which withdraws the note.
            reminder.kind == ReminderKind.MISSED_SESSION
            and (reminder.appointment is None or reminder.appointment.attendance_status != AttendanceStatus.MISSED)
        ):
            ledger.finish(_Outcome(reminder, ReminderStatus.CANCELLED))
            result.cancelled += 1
        else:
            to_send.append(reminder)
    if not to_send:
        return result
    connection = connection or mail.get_connection(fail_silently=False)
    # One connection for the whole batch. Should opening it fail, the rows are still only
    # claimed: they go out again once the lease has run out.
    with connection:
        # Renewed once half of the lease has passed.
        renew_at = min(r.lease_expires_at for r in to_send if r.lease_expires_at) - lease_length() / 2
        try:
            for index, reminder in enumerate(to_send):
                if timezone.now() >= renew_at:
                    ledger.renew(to_send[index:])
                    renew_at = timezone.now() + lease_length() / 2
                try:
                    message = compose(reminder, connection=connection)
                    # Our own id on every message, so a sent reminder can be traced whatever the
                    # backend; a provider's API (anymail) may report its own, recorded instead.
                    message.extra_headers.setdefault("Message-ID", make_msgid(domain=DNS_NAME))
                except SoftTimeLimitExceeded:
                    raise  # out of time: this and the rest stay claimed, for the next pass
                except Exception as exc:
                    # Our own refusals name the field; anything else only by its type (it may quote PHI).
                    error = str(exc) if isinstance(exc, InvalidContent) else type(exc).__name__
                    logger.warning("reminder %s failed: %s", reminder.pk, error)
                    ledger.finish(_Outcome(reminder, ReminderStatus.FAILED, error=error))
                    result.failed += 1
                    continue
                if not ledger.hand_off(reminder):
                    result.lost += 1
                    continue
                try:
                    message.send()
                except SoftTimeLimitExceeded:
                    # Stopped mid-send: whether it went out is unknown. The rest stay claimed.
                    ledger.settle(_Outcome(reminder, ReminderStatus.IN_DOUBT, error=IN_DOUBT_REASON))
                    raise
                except Exception as exc:
                    ledger.settle(_failure(reminder, now, exc, result))
                    continue
                ledger.settle(
                    _Outcome(reminder, ReminderStatus.SENT, sent_at=timezone.now(), message_id=_message_id(message))
                )
                result.sent += 1
        finally:
            ledger.flush()
    return result


def _failure(reminder: Reminder, now: datetime.datetime, exc: Exception, result: DispatchResult) -> _Outcome:
    if is_transient(exc):
        error = type(exc).__name__
        if reminder.attempts >= MAX_ATTEMPTS or now + _backoff(reminder.attempts) >= reminder.starts_at:
            result.failed += 1
            return _Outcome(reminder, ReminderStatus.FAILED, error=f"{error} after {reminder.attempts} attempts")
        result.retried += 1
        return _Outcome(reminder, ReminderStatus.PENDING, send_at=now + _backoff(reminder.attempts), error=error)
    # Not worth retrying (a rejected address, a bad message): failed, visibly, by the error's type
    # only (its text may quote PHI).
    logger.warning("reminder %s failed: %s", reminder.pk, type(exc).__name__)
    result.failed += 1
    return _Outcome(reminder, ReminderStatus.FAILED, error=type(exc).__name__)


def _message_id(message: Any) -> str:
    status = getattr(message, "anymail_status", None)
    if status is not None and getattr(status, "message_id", None):
        return str(status.message_id)[:200]
    return str(message.extra_headers.get("Message-ID", ""))[:200]


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


def reminders_dispatch_all(*, now: datetime.datetime | None = None) -> DispatchResult:
    """Recovery, then passes until nothing is due (`manage.py send_due_reminders` and the beat task)."""
    recovered = reminders_recover_stuck(now=now)
    total = DispatchResult(released=recovered.released, in_doubt=recovered.in_doubt)
    while True:
        result = reminders_dispatch(now=now)
        for name in ("sent", "retried", "failed", "expired", "cancelled", "lost", "skipped"):
            setattr(total, name, getattr(total, name) + getattr(result, name))
        if result.claimed < BATCH_SIZE:
            return total
