"""The outbox: work that must follow a commit is written in the committing transaction, then
published to the broker by a relay.

- `outbox_enqueue` records a message in the caller's transaction (rolled back with it) and, once
  that transaction commits, tries to publish it at once. A broker that is away costs a log line,
  never an error for the write that already committed.
- `outbox_drain` publishes whatever is still waiting. Beat runs it every few seconds, and each
  worker runs it whenever it (re)connects to the broker, so recovery does not wait for a period.

Publishing is at least once: a row is locked while it is published and marked in the same
transaction, so a crash in between publishes it again but never loses it; every task behind a kind
is idempotent. What publishes a kind is registered by the task layer (`tasks/outbox.py`): the
domain never imports a task module.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import OperationalError

from aftercare.models import OutboxKind, OutboxMessage

logger = logging.getLogger(__name__)

Publisher = Callable[[dict[str, Any]], None]
BATCH_SIZE = 200
KEEP_DISPATCHED = datetime.timedelta(days=7)
# What an unreachable broker raises: the whole pass stops, and no message is held back for it.
UNREACHABLE = (OperationalError, OSError)

_publishers: dict[str, Publisher] = {}


class NoPublisher(LookupError):
    """No publisher is registered for a kind: the task layer does not know it (yet)."""


def outbox_publisher_register(*, kind: str, publish: Publisher) -> None:
    if kind not in OutboxKind.values:
        raise ImproperlyConfigured(f"{kind!r} is not an outbox kind.")
    current = _publishers.get(kind)
    if current is not None and current is not publish:
        raise ImproperlyConfigured(f"The outbox kind {kind!r} already has a publisher.")
    _publishers[kind] = publish


def outbox_unpublished_kinds() -> list[str]:
    """The kinds no publisher is registered for (their messages would wait for ever)."""
    return sorted(set(OutboxKind.values) - set(_publishers))


def outbox_enqueue(*, kind: str, payload: dict[str, list[str]]) -> OutboxMessage:
    """Record work that must follow the current transaction, in that transaction.

    The payload names rows by id (JSON strings) and nothing else: no patient detail is ever
    written to the outbox or to the broker."""
    if not all(isinstance(ids, list) and all(isinstance(i, str) for i in ids) for ids in payload.values()):
        raise ValueError("An outbox payload holds lists of ids only.")
    message = OutboxMessage(kind=kind, payload=payload)
    message.full_clean()
    with transaction.atomic():
        message.save()
        # robust: nothing that happens after the commit may turn the committed write into an error.
        transaction.on_commit(lambda: outbox_relay(message_ids=[message.pk]), robust=True)
    return message


@dataclass
class RelayResult:
    published: int = 0
    failed: int = 0
    unreachable: bool = False

    def add(self, other: RelayResult) -> None:
        self.published += other.published
        self.failed += other.failed
        self.unreachable = self.unreachable or other.unreachable


def outbox_relay(*, message_ids: Collection[int]) -> RelayResult:
    """Publish these messages now (right after the commit that wrote them), if no other relay has
    them and they are still waiting. A failure leaves them to the drain."""
    return _relay(Q(pk__in=list(message_ids)), now=timezone.now(), limit=len(message_ids))


def outbox_drain(*, now: datetime.datetime | None = None, batch_size: int = BATCH_SIZE) -> RelayResult:
    """Publish every waiting message, oldest first, in batches; stop at the first sign that the
    broker is unreachable (the next pass, or the worker's reconnection, picks up from there).
    Safe to run anywhere, any number of times at once: rows another relay holds are skipped."""
    now = now or timezone.now()
    result = RelayResult()
    while True:
        batch = _relay(Q(available_at__lte=now), now=now, limit=batch_size)
        result.add(batch)
        if batch.unreachable or batch.published + batch.failed < batch_size:
            break
    if result.published or result.failed:
        logger.info("outbox_drain: published %d, failed %d", result.published, result.failed)
    return result


def outbox_purge(*, now: datetime.datetime | None = None, keep: datetime.timedelta = KEEP_DISPATCHED) -> int:
    """Delete messages published more than `keep` ago. Waiting messages are never deleted."""
    now = now or timezone.now()
    deleted, _ = OutboxMessage.objects.filter(dispatched_at__lt=now - keep).delete()
    return deleted


def _relay(scope: Q, *, now: datetime.datetime, limit: int) -> RelayResult:
    result = RelayResult()
    with transaction.atomic():
        messages = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(scope, dispatched_at__isnull=True)
            .order_by("id")[:limit]
        )
        for message in messages:
            try:
                # A savepoint: a publisher that runs its task in process (eager mode) and fails
                # must not take the marks of the messages before it down with it.
                with transaction.atomic():
                    _publish(message)
            except UNREACHABLE as exc:
                _note_failure(message, exc, retry_at=None)
                logger.warning(
                    "outbox: %s message %s not published (%s); it waits for the next relay pass",
                    message.kind, message.pk, type(exc).__name__,
                )  # fmt: skip
                result.unreachable = True
                break
            except Exception as exc:
                # Something about this message itself: it waits, and the others go ahead.
                _note_failure(message, exc, retry_at=now + _backoff(message.attempts + 1))
                # The class only: an exception's text may quote what it was handed.
                logger.error("outbox: %s message %s not published (%s)", message.kind, message.pk, type(exc).__name__)
                result.failed += 1
            else:
                OutboxMessage.objects.filter(pk=message.pk).update(
                    dispatched_at=timezone.now(), attempts=F("attempts") + 1, last_error=""
                )
                result.published += 1
    return result


def _publish(message: OutboxMessage) -> None:
    publish = _publishers.get(message.kind)
    if publish is None:
        raise NoPublisher(message.kind)
    publish(message.payload)


def _note_failure(message: OutboxMessage, exc: Exception, *, retry_at: datetime.datetime | None) -> None:
    fields: dict[str, Any] = {"attempts": F("attempts") + 1, "last_error": type(exc).__name__[:200]}
    if retry_at is not None:
        fields["available_at"] = retry_at
    OutboxMessage.objects.filter(pk=message.pk).update(**fields)


def _backoff(attempts: int) -> datetime.timedelta:
    # A message is a wake-up call: ten minutes at most between tries.
    return datetime.timedelta(seconds=min(600, 5 * 2 ** (attempts - 1)))
