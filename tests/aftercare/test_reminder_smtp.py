"""Reminder dispatch through a real SMTP server (aiosmtpd, in a thread of the test): a pass keeps
one connection per sender for all its batches, its senders' messages overlap, and two passes at
once still send every reminder exactly once. The server counts; nothing here reads a clock."""

from __future__ import annotations

import asyncio
import datetime
import functools
import logging
import os
import signal
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aftercare.models import Reminder
from aftercare.services.reminder_dispatch import DispatchResult, reminders_dispatch_all
from tests.aftercare.factories import due_reminders


class Server:
    """An SMTP server's message handler that keeps nothing but counts: the connections that
    carried messages, each recipient's deliveries, and the most messages it held at once. With
    `latency`, each message is held that long (asynchronously: the server itself serves any
    number of sessions at once, as a provider's relay does)."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.sessions: list[Any] = []  # held, so that no two sessions share an identity
        self.deliveries: Counter[str] = Counter()
        self.holding = 0
        self.most_held = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not any(seen is session for seen in self.sessions):
            self.sessions.append(session)
        self.holding += 1
        self.most_held = max(self.most_held, self.holding)
        try:
            await asyncio.sleep(self.latency)
        finally:
            self.holding -= 1
        self.deliveries.update(address.lower() for address in envelope.rcpt_tos)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp(settings: Any, caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[float], Server]]:
    """Starts a server (with the latency given) and points the email backend at it."""
    caplog.set_level(logging.WARNING, logger="mail.log")  # the server logs each recipient
    controllers: list[Controller] = []

    def start(latency: float = 0.0) -> Server:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        handler = Server(latency)
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        return handler

    yield start
    for controller in controllers:
        controller.stop()


def _due(count: int) -> list[str]:
    return due_reminders(count)


def test_one_smtp_connection_carries_every_batch_of_a_pass(db: None, smtp: Any, settings: Any) -> None:
    settings.AFTERCARE_REMINDER_SEND_CONCURRENCY = 1
    server = smtp()
    addresses = _due(401)  # three batches: 200, 200 and one

    result = reminders_dispatch_all()

    assert result.sent == 401
    assert len(server.sessions) == 1
    assert server.deliveries == Counter(addresses)


def test_a_pass_has_its_senders_messages_in_flight_together_each_on_its_own_connection(
    db: None, smtp: Any, settings: Any
) -> None:
    settings.AFTERCARE_REMINDER_SEND_CONCURRENCY = 8
    # Each message held 0.2 s: ample for the pass to hand the next seven over meanwhile.
    server = smtp(0.2)
    addresses = _due(40)

    result = reminders_dispatch_all()

    assert result.sent == 40
    assert server.most_held == 8  # never more than the senders, and as many as there are
    assert len(server.sessions) == 8  # each sender's connection kept for message after message
    assert server.deliveries == Counter(addresses)
    assert set(Reminder.objects.values_list("status", "attempts")) == {("sent", 1)}


def test_senders_are_given_messages_half_of_them_at_a_time(db: None, smtp: Any, settings: Any) -> None:
    """Senders come free one by one (each message held 10 ms, from when it was handed over): a
    hand-off each was a statement for each message. They are refilled once half of them are free,
    so after the first 16, each statement hands over 8 messages or more, and there are never more
    in flight than senders."""
    settings.AFTERCARE_REMINDER_SEND_CONCURRENCY = 16
    server = smtp(0.01)
    addresses = _due(80)

    with CaptureQueriesContext(connection) as queries:
        result = reminders_dispatch_all()

    assert result.sent == 80
    assert server.deliveries == Counter(addresses)
    assert server.most_held <= 16
    handed = [q for q in queries.captured_queries if "AS h(id, lease)" in q["sql"]]  # the ledger's writes
    # The first 16, then refills of 8 or more, then the last outcomes.
    assert len(handed) <= 1 + (80 - 16) // 8 + 1, len(handed)


def test_two_passes_at_once_send_every_reminder_exactly_once(transactional_db: None, smtp: Any, settings: Any) -> None:
    settings.AFTERCARE_REMINDER_SEND_CONCURRENCY = 4
    server = smtp(0.005)
    addresses = _due(450)  # a batch each, then a race for the last 50
    start = threading.Barrier(2)
    results: list[DispatchResult] = []

    def one_pass() -> None:
        try:
            start.wait()
            results.append(reminders_dispatch_all())
        finally:
            connection.close()  # this thread's own database connection

    threads = [threading.Thread(target=one_pass) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 2
    assert all(result.sent > 0 for result in results)  # both passes sent, at once
    assert sum(result.sent for result in results) == 450
    assert server.deliveries == Counter(addresses)  # everyone once, nobody twice
    assert set(Reminder.objects.values_list("status", "attempts")) == {("sent", 1)}
    assert server.most_held <= 8


def test_a_pass_out_of_time_mid_send_leaves_in_doubt_only_the_messages_its_senders_held(
    db: None, smtp: Any, settings: Any
) -> None:
    from celery.exceptions import SoftTimeLimitExceeded

    settings.AFTERCARE_REMINDER_SEND_CONCURRENCY = 4
    server = smtp(0.5)
    addresses = _due(20)

    # Celery's soft time limit: a signal whose handler raises in the task's (the main) thread.
    # It comes once the server holds four messages, the pass's four senders all waiting.
    def out_of_time(signum: int, frame: Any) -> None:
        raise SoftTimeLimitExceeded

    signalled = threading.Event()

    async def signal_when_four_are_held(hold: Any, server_: Any, session: Any, envelope: Any) -> str:
        task = asyncio.ensure_future(hold(server_, session, envelope))
        await asyncio.sleep(0)
        if server.holding == 4 and not signalled.is_set():
            signalled.set()
            os.kill(os.getpid(), signal.SIGUSR1)
        return str(await task)

    hold = server.handle_DATA
    server.handle_DATA = functools.partial(signal_when_four_are_held, hold)
    previous = signal.signal(signal.SIGUSR1, out_of_time)
    try:
        with pytest.raises(SoftTimeLimitExceeded):
            reminders_dispatch_all()
    finally:
        signal.signal(signal.SIGUSR1, previous)
    statuses = Counter(Reminder.objects.values_list("status", flat=True))
    assert statuses == {"in_doubt": 4, "claimed": 16}
    assert server.most_held == 4

    # The next pass, once the lease has run out, sends the rest and never the four in doubt.
    later = timezone.now() + datetime.timedelta(seconds=settings.AFTERCARE_REMINDER_LEASE_SECONDS + 1)
    result = reminders_dispatch_all(now=later)
    assert (result.released, result.sent) == (16, 16)
    while server.holding:  # the four held at the signal, still in the server's hands
        threading.Event().wait(0.05)
    in_doubt = {e.lower() for e in Reminder.objects.filter(status="in_doubt").values_list("patient__email", flat=True)}
    assert server.deliveries == Counter(addresses)  # they did go out, once, and were not resent
    assert all(server.deliveries[address] == 1 for address in in_doubt)
