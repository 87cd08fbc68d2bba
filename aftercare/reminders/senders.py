"""The email connections of a dispatch pass: several messages in flight at once, each on a
connection of its own, and each connection reused for message after message.

A provider's latency, not our own work, sets the pace of a sender that waits for each message
before the next: at 50 ms a message, one connection carries 20 messages a second however fast
the rest is. So a pass keeps up to `size` connections (SMTP sessions, or an HTTP API's sessions
with django-anymail), each used by one thread at a time, opened once and kept for the whole pass.

Only the sending happens in those threads. The database is written by the pass's own thread,
which decides what is handed over and records every outcome: a sending thread never touches the
ORM, so it needs no database connection of its own, and a message is never marked before the
thread that sends it has been given it.

With `size` 1 nothing is threaded: a message is sent in the caller's thread, when it is handed
over (and `SoftTimeLimitExceeded`, raised there, reaches the caller as it always did).
"""

from __future__ import annotations

import datetime
import logging
import queue
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.utils import timezone

logger = logging.getLogger(__name__)


class Senders:
    """Up to `size` open connections made by `factory` (`django.core.mail.get_connection`), and as
    many threads to send on them. The caller keeps at most `size` messages in flight."""

    def __init__(self, factory: Callable[[], Any], size: int) -> None:
        if size < 1:
            raise ValueError("size must be 1 or more")
        self.size = size
        self._factory = factory
        # Every connection not in a thread's hands. LIFO: a warm connection is reused first, and
        # connections beyond what the pace needs are never opened.
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        self._executor = ThreadPoolExecutor(size, thread_name_prefix="reminder-send") if size > 1 else None

    def __enter__(self) -> Senders:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def ensure_one(self) -> None:
        """Open a first connection, in the caller's thread, before any message is handed over: a
        server that cannot be reached raises here, while the rows are still only claimed, and
        costs none of them an attempt. Connections after the first are opened as needed, by the
        thread that will use them."""
        if self._idle.empty():
            self._idle.put(self._open())

    def submit(self, message: Any) -> Future[datetime.datetime]:
        """Send `message` on a connection of its own. The future holds the moment the backend took
        it, or the backend's error."""
        if self._executor is not None:
            return self._executor.submit(self._send, message)
        future: Future[datetime.datetime] = Future()
        try:
            sent_at = self._send(message)
        except SoftTimeLimitExceeded:
            raise  # out of time mid-send: the caller settles it as in doubt
        except Exception as exc:
            future.set_exception(exc)
        else:
            future.set_result(sent_at)
        return future

    @staticmethod
    def wait(futures: Iterable[Future[datetime.datetime]]) -> set[Future[datetime.datetime]]:
        """Those of `futures` that are done, waiting for one if none is yet."""
        done, _ = wait(futures, return_when=FIRST_COMPLETED)
        return done

    def close(self) -> None:
        """Wait for messages still in threads' hands (the caller has stopped handing any over),
        then close every connection."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        while not self._idle.empty():
            self._close(self._idle.get_nowait())

    def abandon(self) -> None:
        """Out of time: stop without waiting for the messages in threads' hands (their rows are
        already marked in doubt). The threads finish their sends and close nothing: the process
        is about to end the task, and its connections with it."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def _send(self, message: Any) -> datetime.datetime:
        try:
            connection = self._idle.get_nowait()
        except queue.Empty:
            connection = self._open()
        try:
            connection.send_messages([message])
        except BaseException:
            # Whatever failed may have left the session mid-conversation: the next message gets
            # a fresh one.
            self._close(connection)
            raise
        self._idle.put(connection)
        return timezone.now()

    def _open(self) -> Any:
        connection = self._factory()
        connection.__enter__()
        return connection

    @staticmethod
    def _close(connection: Any) -> None:
        try:
            connection.__exit__(None, None, None)
        except Exception as exc:  # a server that hung up first: nothing left to close
            logger.debug("closing an email connection failed: %s", type(exc).__name__)
