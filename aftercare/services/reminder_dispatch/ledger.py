"""A worker's writes about the rows it claimed: each committed before the next step depends on it,
and as few statements as that allows."""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils import timezone

from aftercare.models import Reminder, ReminderStatus
from aftercare.services.reminder_dispatch.claims import lease_length

logger = logging.getLogger(__name__)

_TABLE = Reminder._meta.db_table


@dataclass
class Outcome:
    reminder: Reminder
    status: str
    sent_at: datetime.datetime | None = None
    message_id: str | None = None
    error: str | None = None
    send_at: datetime.datetime | None = None


# One round trip: the outcomes of any number of rows and the hand-off of any number of others.
# Each row's write is conditional on its status and this worker's lease, and the statement
# returns the ids it applied to. The lease is compared with IS NOT DISTINCT FROM so that the row
# is found by its primary key: a batch shares one lease, and the recovery index on it would walk
# the whole batch for each row.
_WRITE = f"""
WITH outcome AS (
    SELECT * FROM unnest(
        %(done_id)s::uuid[], %(done_status)s::text[], %(done_sent_at)s::timestamptz[], %(done_message_id)s::text[],
        %(done_error)s::text[], %(done_send_at)s::timestamptz[], %(done_was_sending)s::boolean[],
        %(done_lease)s::timestamptz[]
    ) AS o(id, status, sent_at, message_id, error, send_at, was_sending, lease)
), done AS (
    UPDATE {_TABLE} r SET
        status = o.status,
        sent_at = COALESCE(o.sent_at, r.sent_at),
        provider_message_id = COALESCE(o.message_id, r.provider_message_id),
        last_error = COALESCE(o.error, r.last_error),
        send_at = COALESCE(o.send_at, r.send_at),
        lease_expires_at = NULL
    FROM outcome o
    WHERE r.id = o.id
        AND r.status = ANY(CASE WHEN o.was_sending THEN %(from_sending)s::text[] ELSE %(from_claimed)s::text[] END)
        AND r.lease_expires_at IS NOT DISTINCT FROM o.lease
    RETURNING r.id
), handed AS (
    UPDATE {_TABLE} r SET status = %(sending)s, lease_expires_at = %(lease)s::timestamptz, attempts = r.attempts + 1
    FROM unnest(%(next_id)s::uuid[], %(next_lease)s::timestamptz[]) AS h(id, lease)
    WHERE r.id = h.id AND r.status = %(claimed)s AND r.lease_expires_at IS NOT DISTINCT FROM h.lease
    RETURNING r.id
)
SELECT ARRAY(SELECT id FROM done), ARRAY(SELECT id FROM handed)
"""  # noqa: S608 (the table name is the model's; every value is a parameter)

_RENEW = f"""
UPDATE {_TABLE} SET lease_expires_at = %s
WHERE id = ANY(%s::uuid[]) AND status = %s AND lease_expires_at = %s
RETURNING id
"""  # noqa: S608 (as above)


class Ledger:
    """Outcomes are held until the next hand-off (or the end of the batch) and written in the same
    statement: between the backend returning and that statement, a death leaves the message in
    doubt, as it would a moment earlier. A row is marked `sending` in a committed statement before
    its message goes to the backend, never earlier than a sender is free to take it, so a death
    leaves in doubt only the messages that were in senders' hands."""

    def __init__(self) -> None:
        self.unwritten: list[Outcome] = []

    def add(self, outcome: Outcome) -> None:
        """An outcome, written with the next statement."""
        self.unwritten.append(outcome)

    def hand_off(self, reminders: list[Reminder]) -> list[Reminder]:
        """Mark the rows in flight, with the outcomes held so far, just before their messages go
        to the backend. Those not returned have been taken by another worker meanwhile, and must
        not be sent from here."""
        done, self.unwritten = self.unwritten, []
        if not done and not reminders:
            return []
        return self._write(done, reminders)

    def flush(self) -> None:
        if self.unwritten:
            done, self.unwritten = self.unwritten, []
            self._write(done, [])

    def _write(self, done: list[Outcome], handing: list[Reminder]) -> list[Reminder]:
        lease = timezone.now() + lease_length()
        params: dict[str, Any] = {
            "done_id": [o.reminder.pk for o in done],
            "done_status": [o.status for o in done],
            "done_sent_at": [o.sent_at for o in done],
            "done_message_id": [o.message_id for o in done],
            "done_error": [None if o.error is None else o.error[:200] for o in done],
            "done_send_at": [o.send_at for o in done],
            # A row marked in doubt while its send was slow is settled by the worker that knows.
            "done_was_sending": [o.reminder.status == ReminderStatus.SENDING for o in done],
            "done_lease": [o.reminder.lease_expires_at for o in done],
            "from_sending": [ReminderStatus.SENDING, ReminderStatus.IN_DOUBT],
            "from_claimed": [ReminderStatus.CLAIMED],
            "sending": ReminderStatus.SENDING,
            "claimed": ReminderStatus.CLAIMED,
            "lease": lease,
            "next_id": [r.pk for r in handing],
            "next_lease": [r.lease_expires_at for r in handing],
        }
        with connection.cursor() as cursor:
            cursor.execute(_WRITE, params)
            row = cursor.fetchone()
        assert row is not None  # noqa: S101 (a SELECT of two arrays always returns its row)
        written, handed = set(row[0]), set(row[1])
        for outcome in done:
            if outcome.reminder.pk not in written:
                logger.warning(
                    "reminder %s: outcome %s not recorded (not this worker's)", outcome.reminder.pk, outcome.status
                )
        taken = [r for r in handing if r.pk in handed]
        for reminder in taken:
            reminder.status = ReminderStatus.SENDING
            reminder.lease_expires_at = lease
            reminder.attempts += 1
        return taken

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
