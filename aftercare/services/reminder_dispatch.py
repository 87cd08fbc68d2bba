"""Sending due reminders: each is claimed by exactly one worker, sent at most once.

The claim is `SELECT … FOR UPDATE SKIP LOCKED` then `status = 'sending'` in one transaction, so
any number of workers and beats running at once never take the same row. A worker that dies after
claiming leaves the row in `sending`; `reminders_recover_stuck` marks such rows `failed` rather
than send them again: a reminder that may have gone out is never sent twice.
"""

from __future__ import annotations

import datetime
import logging
import random
import smtplib
import socket
from dataclasses import dataclass, field
from typing import Any

from django.core import mail
from django.core.mail.message import make_msgid
from django.core.mail.utils import DNS_NAME
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from aftercare.models import Reminder, ReminderKind, ReminderStatus
from clinic.models import PatientStatus

logger = logging.getLogger(__name__)

BATCH_SIZE = 200
MAX_ATTEMPTS = 5
STUCK_AFTER = datetime.timedelta(minutes=15)

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
    ids: list[Any] = field(default_factory=list)

    @property
    def claimed(self) -> int:
        return self.sent + self.retried + self.failed + self.expired + self.cancelled


def reminders_claim(*, now: datetime.datetime, batch_size: int = BATCH_SIZE) -> list[Reminder]:
    with transaction.atomic():
        ids = list(
            Reminder.objects.select_for_update(skip_locked=True)
            .filter(status=ReminderStatus.PENDING, send_at__lte=now)
            .order_by("send_at")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return []
        Reminder.objects.filter(pk__in=ids, status=ReminderStatus.PENDING).update(
            status=ReminderStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
    return list(
        Reminder.objects.filter(pk__in=ids).select_related(
            "clinic", "patient", "appointment", "group_session", "group_session__group"
        )
    )


def _finish(reminder: Reminder, status: str, **fields: Any) -> None:
    Reminder.objects.filter(pk=reminder.pk, status=ReminderStatus.SENDING).update(status=status, **fields)


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
    claimed = reminders_claim(now=now, batch_size=batch_size)
    if not claimed:
        return result
    to_send = []
    for reminder in claimed:
        result.ids.append(reminder.pk)
        patient = reminder.patient
        if reminder.kind != ReminderKind.MISSED_SESSION and reminder.starts_at <= now:
            _finish(reminder, ReminderStatus.EXPIRED)
            result.expired += 1
        elif not (patient.reminders_opt_in and patient.email and patient.status == PatientStatus.ACTIVE):
            _finish(reminder, ReminderStatus.CANCELLED)
            result.cancelled += 1
        else:
            to_send.append(reminder)
    if not to_send:
        return result
    sent: list[Reminder] = []
    connection = connection or mail.get_connection(fail_silently=False)
    with connection:  # one connection for the whole batch
        for reminder in to_send:
            try:
                message = compose(reminder, connection=connection)
                # Our own id on every message, so a sent reminder can be traced whatever the
                # backend; a provider's API (anymail) may report its own, which is recorded instead.
                message.extra_headers.setdefault("Message-ID", make_msgid(domain=DNS_NAME))
                message.send()
            except Exception as exc:
                if is_transient(exc):
                    _retry_or_fail(reminder, now, type(exc).__name__, result)
                    continue
                # Not worth retrying (a rejected address, a bad message): failed, visibly. Our own
                # refusals name the field; anything else only by its type (it may quote PHI).
                error = str(exc) if isinstance(exc, InvalidContent) else type(exc).__name__
                logger.warning("reminder %s failed: %s", reminder.pk, error)
                _finish(reminder, ReminderStatus.FAILED, last_error=error[:200])
                result.failed += 1
                continue
            reminder.status = ReminderStatus.SENT
            reminder.sent_at = timezone.now()
            reminder.provider_message_id = _message_id(message)
            sent.append(reminder)
    _record_sent(sent)
    result.sent = len(sent)
    return result


def _record_sent(sent: list[Reminder]) -> None:
    """One statement for the batch's successes. The rows are this worker's (claimed); should it die
    before this runs, they stay `sending` and are failed by recovery, never sent again.

    Raw SQL over arrays because `bulk_update` builds a CASE per row and column in Python: for a
    batch of 200 that took longer than composing the messages did."""
    if not sent:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {Reminder._meta.db_table} AS r
            SET status = %s, sent_at = d.sent_at, provider_message_id = d.message_id
            FROM unnest(%s::uuid[], %s::timestamptz[], %s::text[]) AS d(id, sent_at, message_id)
            WHERE r.id = d.id AND r.status = %s
            """,  # noqa: S608 (the table name is the model's; every value is a parameter)
            [
                ReminderStatus.SENT,
                [reminder.pk for reminder in sent],
                [reminder.sent_at for reminder in sent],
                [reminder.provider_message_id for reminder in sent],
                ReminderStatus.SENDING,
            ],
        )


def _retry_or_fail(reminder: Reminder, now: datetime.datetime, error: str, result: DispatchResult) -> None:
    if reminder.attempts >= MAX_ATTEMPTS or now + _backoff(reminder.attempts) >= reminder.starts_at:
        _finish(reminder, ReminderStatus.FAILED, last_error=f"{error} after {reminder.attempts} attempts"[:200])
        result.failed += 1
    else:
        _finish(reminder, ReminderStatus.PENDING, send_at=now + _backoff(reminder.attempts), last_error=error[:200])
        result.retried += 1


def _message_id(message: Any) -> str:
    status = getattr(message, "anymail_status", None)
    if status is not None and getattr(status, "message_id", None):
        return str(status.message_id)[:200]
    return str(message.extra_headers.get("Message-ID", ""))[:200]


def reminders_recover_stuck(*, now: datetime.datetime | None = None) -> int:
    """Rows a worker claimed and never finished (it died): failed, not resent."""
    now = now or timezone.now()
    return Reminder.objects.filter(status=ReminderStatus.SENDING, claimed_at__lt=now - STUCK_AFTER).update(
        status=ReminderStatus.FAILED, last_error="interrupted while sending; not resent"
    )


def reminders_dispatch_all(*, now: datetime.datetime | None = None) -> DispatchResult:
    """Passes until nothing is due (`manage.py send_due_reminders` and the beat task)."""
    total = DispatchResult()
    while True:
        result = reminders_dispatch(now=now)
        for name in ("sent", "retried", "failed", "expired", "cancelled"):
            setattr(total, name, getattr(total, name) + getattr(result, name))
        if result.claimed < BATCH_SIZE:
            return total
