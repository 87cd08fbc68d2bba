"""A reminder worker killed with SIGKILL in the middle of sending, then a new one started, on a
real broker and through a real SMTP server: every patient is reminded once, none twice, and the
only reminders not known to be sent are the ones that were in the server's hands at the kill,
each marked in doubt (never silently failed, never resent): at most one for each sender of each
pool process."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections import Counter
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.db import connection

from aftercare.models import Reminder
from tasks.celery import app
from tests.aftercare.factories import due_reminders
from tests.integration.conftest import start_worker, stop

pytestmark = pytest.mark.integration

REMINDERS = 300
KILL_AFTER = 60
CONCURRENCY = 2
SENDERS = 4  # messages in flight at once in each pool process
IN_FLIGHT = CONCURRENCY * SENDERS
LEASE_SECONDS = 3


class CountingSink:
    """An SMTP server's message handler: counts each recipient's deliveries. A message counts as
    delivered once the server has it, before it answers 250: a kill in between is a message that
    went out although the worker never heard so."""

    def __init__(self, signal_after: int) -> None:
        self.deliveries: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.signal_after = signal_after
        self.reached = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.deliveries.update(address.lower() for address in envelope.rcpt_tos)
            if self.deliveries.total() >= self.signal_after:
                self.reached.set()
        await asyncio.sleep(0.01)  # a server takes its time: a kill may land while it holds a message
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _due_reminders() -> None:
    due_reminders(REMINDERS)


def _statuses() -> Counter[str]:
    connection.close()  # the workers' latest commits, not an old snapshot
    return Counter(Reminder.objects.values_list("status", flat=True))


def _sweep(broker_url: str, queue: str, passes: int) -> None:
    """What beat does every minute: one dispatch task per pool process."""
    with app.connection_for_write(broker_url) as broker:
        for _ in range(passes):
            app.send_task("tasks.reminders.reminders_dispatch", queue=queue, connection=broker)


def test_a_worker_killed_mid_send_leaves_only_its_in_flight_reminders_in_doubt(
    transactional_db: None, broker_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mail.log")  # the SMTP server logs each recipient
    _due_reminders()
    sink = CountingSink(signal_after=KILL_AFTER)
    smtp = Controller(sink, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    queue = f"aftercare-killed-{uuid.uuid4().hex[:8]}"
    env = {
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}",
        "AFTERCARE_REMINDER_LEASE_SECONDS": str(LEASE_SECONDS),
        "AFTERCARE_REMINDER_SEND_CONCURRENCY": str(SENDERS),
    }
    try:
        doomed = start_worker(broker_url, queue, env=env, concurrency=CONCURRENCY, own_group=True)
        try:
            _sweep(broker_url, queue, CONCURRENCY)
            assert sink.reached.wait(timeout=90), "the first worker never sent its first messages"
            # The worker and its pool processes at once, as when a machine or container dies.
            os.killpg(doomed.pid, signal.SIGKILL)
            doomed.wait(timeout=30)
        finally:
            if doomed.poll() is None:
                stop(doomed)
            else:
                print(doomed.communicate()[0])
        time.sleep(0.5)  # the server finishes the sessions the kill cut off
        at_kill = _statuses()
        delivered_at_kill = sink.deliveries.total()
        print(f"at the kill: {delivered_at_kill} delivered, rows {dict(at_kill)}")
        assert KILL_AFTER <= delivered_at_kill < REMINDERS, at_kill
        assert at_kill["sending"] <= IN_FLIGHT, at_kill
        assert at_kill["claimed"] > 0, at_kill  # claimed, never handed to the server

        successor = start_worker(broker_url, queue, env=env, concurrency=CONCURRENCY)
        try:
            deadline = time.monotonic() + 120
            while True:
                left = _statuses()
                if not left["pending"] + left["claimed"] + left["sending"]:
                    break
                assert time.monotonic() < deadline, f"not settled: {left}"
                _sweep(broker_url, queue, CONCURRENCY)  # as beat would, a pass a minute
                time.sleep(1.0)
        finally:
            stop(successor)
    finally:
        smtp.stop()

    final = _statuses()
    print(f"settled: rows {dict(final)}")
    assert set(final) <= {"sent", "in_doubt"}, final  # nothing failed, nothing left behind
    assert final["in_doubt"] <= IN_FLIGHT, final
    assert final["sent"] >= REMINDERS - IN_FLIGHT, final
    assert max(sink.deliveries.values()) == 1  # nobody reminded twice
    emails = dict(Reminder.objects.values_list("patient__email", "status"))
    assert len(emails) == REMINDERS
    sent_to = {email.lower() for email, status in emails.items() if status == "sent"}
    assert all(sink.deliveries[email] == 1 for email in sent_to)  # each recorded send went out once
    in_doubt = Reminder.objects.filter(status="in_doubt")
    assert all("may have been delivered" in row.last_error for row in in_doubt)
    # Exactly once for every patient but those in doubt (who got at most one).
    reminded_once = sum(1 for count in sink.deliveries.values() if count == 1)
    assert reminded_once >= REMINDERS - IN_FLIGHT
    assert set(sink.deliveries) - sent_to <= {row.patient.email.lower() for row in in_doubt}
