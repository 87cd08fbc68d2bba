"""Sending due reminders: each is claimed by exactly one worker, sent at most once, and a worker's
death leaves in doubt only the messages it was sending at that moment (at most one for each of
its senders, `AFTERCARE_REMINDER_SEND_CONCURRENCY`).

A row moves `pending` → `claimed` → `sending` → `sent` (or `failed`, or back to `pending` for a
retry). The claim is `SELECT … FOR UPDATE SKIP LOCKED` then `status = 'claimed'` with a lease, in
one transaction, so any number of workers and beats running at once never take the same batch.
Rows become `sending` in a committed statement just before their messages are handed to the email
backend, and never before a sender is free to take them; each outcome is written as soon as the
backend returns (in the same round trip as the next hand-off, so a message costs one statement at
most). Several messages are in flight at once, each on an SMTP connection (or a provider's HTTP
session) of its own that stays open for the whole pass (`aftercare.reminders.senders`): a
provider's latency, not ours, would otherwise set the pace.

If the worker dies, `reminders_recover_stuck` settles its rows once their lease has run out:
rows still `claimed` never reached the backend and are `pending` again, for the next pass to send;
a row left `sending` may or may not have gone out and becomes `in_doubt`, visible to staff and
never resent. Every write a worker makes is conditional on its lease (the exact
`lease_expires_at` it set), so a worker that was merely slow cannot touch a row another one has
since taken over.

A pass has a time budget (`AFTERCARE_REMINDER_PASS_SECONDS`, well inside the task's soft time
limit): past it, no message is handed over, the rows not yet sent are given back (`pending`, for
the next pass at once rather than after their lease), and the pass reports that more may be due.
"""

from __future__ import annotations

import datetime
import logging
import random
import smtplib
import socket
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core import mail
from django.core.mail.message import make_msgid
from django.core.mail.utils import DNS_NAME
from django.utils import timezone

from aftercare.models import AttendanceStatus, Reminder, ReminderKind, ReminderStatus
from aftercare.reminders.senders import Senders
from aftercare.services.reminder_dispatch.claims import (
    BATCH_SIZE,
    IN_DOUBT_REASON,
    Claim,
    RecoveryResult,
    lease_length,
    reminders_claim,
    reminders_recover_stuck,
)
from aftercare.services.reminder_dispatch.ledger import Ledger, Outcome
from clinic.models import PatientStatus

__all__ = [
    "BATCH_SIZE",
    "IN_DOUBT_REASON",
    "MAX_ATTEMPTS",
    "Claim",
    "DispatchResult",
    "RecoveryResult",
    "is_transient",
    "lease_length",
    "reminders_claim",
    "reminders_dispatch",
    "reminders_dispatch_all",
    "reminders_recover_stuck",
]

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5

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
    # Claimed, then given back unsent: the pass's time ran out.
    returned: int = 0
    # Settled before the pass by `reminders_recover_stuck`.
    released: int = 0
    in_doubt: int = 0
    # The pass stopped for time, not because nothing was due: run another now.
    more: bool = False
    ids: list[Any] = field(default_factory=list)

    @property
    def claimed(self) -> int:
        return (
            self.sent
            + self.retried
            + self.failed
            + self.expired
            + self.cancelled
            + self.lost
            + self.skipped
            + self.returned
        )

    def add(self, other: DispatchResult) -> None:
        for name in ("sent", "retried", "failed", "expired", "cancelled", "lost", "skipped", "returned"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def senders_for(connection: Any = None) -> Senders:
    """The connections of a pass: `AFTERCARE_REMINDER_SEND_CONCURRENCY` of the configured backend's,
    or the one given, used from the caller's thread."""
    if connection is not None:
        return Senders(lambda: connection, 1)
    return Senders(partial(mail.get_connection, fail_silently=False), settings.AFTERCARE_REMINDER_SEND_CONCURRENCY)


def reminders_dispatch(
    *,
    now: datetime.datetime | None = None,
    batch_size: int = BATCH_SIZE,
    connection: Any = None,
    senders: Senders | None = None,
    deadline: datetime.datetime | None = None,
) -> DispatchResult:
    """One batch: claim due rows and deal with each. Safe to run anywhere, any number of times at
    once. The messages go through `senders` (a pass's, kept from batch to batch), else through
    `connection` alone, else through connections of the configured backend opened for this batch.
    Past `deadline`, nothing more is handed over and the rows not sent are given back."""
    now = now or timezone.now()
    result = DispatchResult()
    claim = reminders_claim(now=now, batch_size=batch_size)
    result.skipped = claim.skipped
    if not claim.rows:
        return result
    ledger = Ledger()
    to_send = _triage(claim.rows, now, ledger, result)
    try:
        if to_send:
            if senders is not None:
                _send(to_send, senders, ledger, result, now, deadline)
            else:
                with senders_for(connection) as own:
                    _send(to_send, own, ledger, result, now, deadline)
    finally:
        ledger.flush()
    return result


def _triage(claimed: list[Reminder], now: datetime.datetime, ledger: Ledger, result: DispatchResult) -> list[Reminder]:
    """The claimed rows still to be sent; the others settled (expired, cancelled)."""
    to_send = []
    for reminder in claimed:
        result.ids.append(reminder.pk)
        patient = reminder.patient
        if reminder.kind != ReminderKind.MISSED_SESSION and reminder.starts_at <= now:
            ledger.add(Outcome(reminder, ReminderStatus.EXPIRED))
            result.expired += 1
        elif not (patient.reminders_opt_in and patient.email and patient.status == PatientStatus.ACTIVE) or (
            # The no-show was changed without the attendance service, which withdraws the note.
            reminder.kind == ReminderKind.MISSED_SESSION
            and (reminder.appointment is None or reminder.appointment.attendance_status != AttendanceStatus.MISSED)
        ):
            ledger.add(Outcome(reminder, ReminderStatus.CANCELLED))
            result.cancelled += 1
        else:
            to_send.append(reminder)
    return to_send


def _send(
    to_send: list[Reminder],
    senders: Senders,
    ledger: Ledger,
    result: DispatchResult,
    now: datetime.datetime,
    deadline: datetime.datetime | None,
) -> None:
    """Hand the rows to `senders`, never more at once than it has connections, and record each
    outcome as it comes back."""
    waiting = deque(to_send)
    in_flight: dict[Future[datetime.datetime], tuple[Reminder, Any]] = {}
    # Senders are given messages once half of them are free (or all that are, when nothing is in
    # flight): a hand-off is a statement, and one for each message freed was most of a pass's
    # database work when the server answers at once. Never more in flight than senders.
    refill = max(1, senders.size // 2)
    handed: deque[tuple[Reminder, Any]] = deque()  # marked `sending`, not yet given to a sender
    # Renewed once half of the lease has passed.
    renew_at = min(r.lease_expires_at for r in to_send if r.lease_expires_at) - lease_length() / 2
    # Should no connection open, the rows are still only claimed: they go out again once the lease
    # has run out, and no attempt was spent on a server that was down.
    senders.ensure_one()
    try:
        while waiting or in_flight:
            if waiting and deadline is not None and timezone.now() >= deadline:
                # Out of time: the next pass sends the rest, without waiting for their lease.
                for reminder in waiting:
                    ledger.add(Outcome(reminder, ReminderStatus.PENDING))
                result.returned += len(waiting)
                waiting.clear()
            if waiting and (senders.size - len(in_flight) >= refill or not in_flight):
                if timezone.now() >= renew_at:
                    ledger.renew(list(waiting))
                    renew_at = timezone.now() + lease_length() / 2
                batch: list[tuple[Reminder, Any]] = []
                while waiting and len(in_flight) + len(batch) < senders.size:
                    reminder = waiting.popleft()
                    message = _compose(reminder, ledger, result)
                    if message is not None:
                        batch.append((reminder, message))
                taken = ledger.hand_off([reminder for reminder, _ in batch])
                result.lost += len(batch) - len(taken)
                handed.extend(pair for pair in batch if pair[0] in taken)
                while handed:
                    future = senders.submit(handed[0][1])
                    in_flight[future] = handed.popleft()
            if in_flight and (senders.size - len(in_flight) < refill or not waiting):
                for future in senders.wait(in_flight):
                    reminder, message = in_flight.pop(future)
                    ledger.add(_outcome(reminder, message, future, now, result))
    except SoftTimeLimitExceeded:
        # Stopped mid-send: whether the messages in senders' hands went out is unknown. The rest
        # stay claimed, for the next pass.
        for future, (reminder, message) in in_flight.items():
            if future.done():
                ledger.add(_outcome(reminder, message, future, now, result))
            else:
                ledger.add(Outcome(reminder, ReminderStatus.IN_DOUBT, error=IN_DOUBT_REASON))
        for reminder, _ in handed:
            ledger.add(Outcome(reminder, ReminderStatus.IN_DOUBT, error=IN_DOUBT_REASON))
        senders.abandon()
        raise


def _compose(reminder: Reminder, ledger: Ledger, result: DispatchResult) -> Any:
    """The reminder's message, or None when it must not be sent (recorded as failed)."""
    from aftercare.reminders.compose import compose
    from aftercare.reminders.email import InvalidContent

    try:
        message = compose(reminder)
        # Our own id on every message, so a sent reminder can be traced whatever the backend; a
        # provider's API (anymail) may report its own, recorded instead.
        message.extra_headers.setdefault("Message-ID", make_msgid(domain=DNS_NAME))
    except SoftTimeLimitExceeded:
        raise  # out of time: this and the rest stay claimed, for the next pass
    except Exception as exc:
        # Our own refusals name the field; anything else only by its type (it may quote PHI).
        error = str(exc) if isinstance(exc, InvalidContent) else type(exc).__name__
        logger.warning("reminder %s failed: %s", reminder.pk, error)
        ledger.add(Outcome(reminder, ReminderStatus.FAILED, error=error))
        result.failed += 1
        return None
    return message


def _outcome(
    reminder: Reminder, message: Any, future: Future[datetime.datetime], now: datetime.datetime, result: DispatchResult
) -> Outcome:
    exc = future.exception()
    if exc is None:
        result.sent += 1
        return Outcome(reminder, ReminderStatus.SENT, sent_at=future.result(), message_id=_message_id(message))
    if not isinstance(exc, Exception):
        raise exc  # the sending thread was told to stop (SystemExit and the like): so are we
    return _failure(reminder, now, exc, result)


def _backoff(attempts: int) -> datetime.timedelta:
    # Exponential with jitter, so a provider outage is not hit by every row at the same second.
    return datetime.timedelta(seconds=min(3600, 30 * 2 ** (attempts - 1)) * random.uniform(0.8, 1.2))  # noqa: S311


def _failure(reminder: Reminder, now: datetime.datetime, exc: Exception, result: DispatchResult) -> Outcome:
    if is_transient(exc):
        error = type(exc).__name__
        if reminder.attempts >= MAX_ATTEMPTS or now + _backoff(reminder.attempts) >= reminder.starts_at:
            result.failed += 1
            return Outcome(reminder, ReminderStatus.FAILED, error=f"{error} after {reminder.attempts} attempts")
        result.retried += 1
        return Outcome(reminder, ReminderStatus.PENDING, send_at=now + _backoff(reminder.attempts), error=error)
    # Not worth retrying (a rejected address, a bad message): failed, visibly, by the error's type
    # only (its text may quote PHI).
    logger.warning("reminder %s failed: %s", reminder.pk, type(exc).__name__)
    result.failed += 1
    return Outcome(reminder, ReminderStatus.FAILED, error=type(exc).__name__)


def _message_id(message: Any) -> str:
    status = getattr(message, "anymail_status", None)
    if status is not None and getattr(status, "message_id", None):
        return str(status.message_id)[:200]
    return str(message.extra_headers.get("Message-ID", ""))[:200]


def reminders_dispatch_all(
    *, now: datetime.datetime | None = None, connection: Any = None, budget: datetime.timedelta | None = None
) -> DispatchResult:
    """Recovery, then batches until nothing is due (`manage.py send_due_reminders`), or until
    `budget` has run out (the beat task, which then queues another pass: `result.more`). One set
    of connections carries every batch of the pass."""
    recovered = reminders_recover_stuck(now=now)
    total = DispatchResult(released=recovered.released, in_doubt=recovered.in_doubt)
    deadline = None if budget is None else timezone.now() + budget
    with senders_for(connection) as senders:
        while True:
            result = reminders_dispatch(now=now, senders=senders, deadline=deadline)
            total.add(result)
            if result.claimed < BATCH_SIZE and not result.returned:
                return total
            if result.returned or (deadline is not None and timezone.now() >= deadline):
                total.more = True
                return total
