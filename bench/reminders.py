"""Reminder dispatch against one no-op Celery task per item, on the same broker, in one run.

Targets (DESIGN.md), one worker at concurrency 2: through a real SMTP server, 3 times or more the
rate of a no-op task per item; when the server takes 50 ms a message, 300 messages a second or
more; the worker's peak memory under 300 MB.

The SMTP server is a sink this benchmark starts: it accepts each message and discards it. With no
latency it is Postfix's `smtp-sink` when installed (`apt-get install postfix`: a server written in
C for testing SMTP clients, about 0.1 ms of CPU a message), else an aiosmtpd sink in a thread of
this process, which spends nearly 1 ms of CPU on each message, on the cores the worker measured
needs: the figure then says more about the sink than about dispatch, and the bench says so. The
50 ms run uses the aiosmtpd sink, whose latency is asynchronous (`asyncio.sleep` in
`handle_DATA`), so a slow server still serves many sessions at once, as a provider's relay does.
`BENCH_REMINDERS` sets the number of due reminders (100 000 by default; fewer while iterating);
`BENCH_QUEUE_PREFIX` the start of its queue names on a shared broker.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import connection
from django.db.models import Count

from aftercare.models import Reminder, ReminderStatus
from bench.harness import ROOT, PeakMemory
from clinic.embedded import database_url
from clinic.models import Clinic
from tasks.celery import app

ITEMS = int(os.environ.get("BENCH_REMINDERS", "100000"))
# The baseline is a rate: measured over this many no-op tasks (the filesystem broker moves about
# a hundred a second, and 100 000 of them would take the better part of half an hour).
BASELINE_ITEMS = 5_000
SLOW_SERVER_SECONDS = 0.05
# Queue names start with this (a broker shared with other work: its own names).
QUEUE_PREFIX = os.environ.get("BENCH_QUEUE_PREFIX", "bench-")
WORKER_CONCURRENCY = 2


class Sink:
    """aiosmtpd handler: accepts every message, keeps none. One event loop thread runs it, so the
    counters need no lock."""

    name = "aiosmtpd sink (Python, in this process)"

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.messages = 0
        self.sessions: set[int] = set()
        self.holding = 0
        self.most_held = 0

    def described(self) -> str:
        return f"{len(self.sessions)} connections, at most {self.most_held} messages at once"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.sessions.add(id(session))  # a session is one connection, alive while it sends
        self.holding += 1
        self.most_held = max(self.most_held, self.holding)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
        finally:
            self.holding -= 1
        self.messages += 1
        return "250 Message accepted"


def postfix_sink() -> str | None:
    """Postfix's `smtp-sink`, where installed (it lives in sbin, often off a user's PATH)."""
    return shutil.which("smtp-sink") or shutil.which("smtp-sink", path="/usr/sbin:/usr/local/sbin")


class PostfixSink:
    """`smtp-sink -c`, which writes its running counters (`sess=… quit=… mesg=…`) as it goes."""

    name = "Postfix smtp-sink (C, a process of its own)"

    def __init__(self, output: Any) -> None:
        self._output = output
        self._written = b""

    def read(self) -> None:
        """What it has written so far (the file closes with the server)."""
        self._output.seek(0)
        self._written = self._output.read()

    def _counter(self, name: str) -> int:
        found = re.findall(rf"{name}=(\d+)".encode(), self._written)
        return int(found[-1]) if found else 0

    @property
    def messages(self) -> int:
        return self._counter("mesg")

    def described(self) -> str:
        # Less the bench's own connection that waited for it to listen.
        return f"{self._counter('sess') - 1} connections"


@contextmanager
def smtp_sink(latency: float) -> Iterator[tuple[Sink | PostfixSink, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    program = postfix_sink()
    if not latency and program:
        # It refuses to run as root without a user to become.
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        with open(os.devnull, "wb") as devnull, tempfile.TemporaryFile() as output:
            process = subprocess.Popen(
                [program, "-c", *user, f"127.0.0.1:{port}", "256"], stdout=output, stderr=devnull
            )
            try:
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                        break
                    except OSError:
                        time.sleep(0.05)
                counted = PostfixSink(output)
                yield counted, port
                time.sleep(0.5)  # the last counters written
                counted.read()
            finally:
                process.terminate()
                process.wait(timeout=10)
        return
    sink = Sink(latency)
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def _worker(queue: str, email_url: str = "dummymail://") -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        # dummymail: the message is built in full (templates, calendar file) and then dropped.
        "EMAIL_URL": email_url,
        "AFTERCARE_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "tasks", "worker", "--include", "bench.celery_tasks",
            "--queues", queue, "--concurrency", str(WORKER_CONCURRENCY), "--without-mingle", "--without-gossip",
            "--loglevel", "WARNING", "--hostname", f"bench-{uuid.uuid4().hex[:6]}@%h",
        ],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    time.sleep(8)  # ready: Django set up and the pool forked
    return process


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def _queue_size(queue: str) -> int:
    with app.connection_for_write() as conn:
        channel: Any = conn.default_channel
        try:
            return int(channel.queue_declare(queue=queue, passive=True).message_count)
        except conn.channel_errors:
            return 0  # Redis drops an empty queue's key: nothing left


def _baseline(items: int) -> float:
    queue = f"{QUEUE_PREFIX}noop-{uuid.uuid4().hex[:6]}"
    process = _worker(queue)
    try:
        started = time.perf_counter()
        with app.connection_for_write() as conn, app.producer_or_acquire() as producer:
            for item in range(items):
                app.send_task("bench.noop", args=[item], queue=queue, connection=conn, producer=producer)
        while _queue_size(queue) > 0:
            time.sleep(0.2)
        time.sleep(1.0)  # the last prefetched messages
        return items / (time.perf_counter() - started - 1.0)
    finally:
        _stop(process)


def _seed_due(clinic: Clinic, items: int) -> None:
    with connection.cursor() as cursor:
        # The previous run's rows, sent: left, they would supersede these (same sessions, closer offset).
        cursor.execute("DELETE FROM aftercare_reminder")
        cursor.execute(
            """
            INSERT INTO aftercare_reminder (id, clinic_id, patient_id, kind, appointment_id, offset_minutes, starts_at,
                send_at, status, attempts, provider_message_id, last_error, created_at, updated_at)
            SELECT gen_random_uuid(), a.clinic_id, a.patient_id, 'appointment', a.id, 120, a.starts_at,
                now() - interval '1 minute', 'pending', 0, '', '', now(), now()
            FROM aftercare_appointment a
            WHERE a.clinic_id = %s AND a.starts_at > now() + interval '1 day'
            ORDER BY a.starts_at
            LIMIT %s
            """,
            [clinic.pk, items],
        )
        seeded = cursor.rowcount
        cursor.execute("VACUUM ANALYZE aftercare_reminder")
    if seeded != items:
        raise RuntimeError(f"only {seeded} future appointments to remind of; {items} wanted")


@dataclass(frozen=True)
class Run:
    rate: float  # reminders a second
    peak_mb: float


def _dispatch(clinic: Clinic, items: int, email_url: str) -> Run:
    _seed_due(clinic, items)
    queue = f"{QUEUE_PREFIX}reminders-{uuid.uuid4().hex[:6]}"
    process = _worker(queue, email_url)
    memory = PeakMemory(process.pid)
    memory.start()
    try:
        started = time.perf_counter()
        with app.connection_for_write() as conn:
            # One pass per pool process, as beat sends; each drains batches until none is due (or
            # its time budget runs out, and it queues the next pass on this queue).
            for _ in range(WORKER_CONCURRENCY):
                app.send_task("tasks.reminders.reminders_dispatch", queue=queue, connection=conn)
        while True:
            time.sleep(0.5)
            left = Reminder.objects.filter(
                status__in=[ReminderStatus.PENDING, ReminderStatus.CLAIMED, ReminderStatus.SENDING]
            ).count()
            if left == 0:
                break
        elapsed = time.perf_counter() - started
    finally:
        memory.running = False
        _stop(process)
    statuses = dict(Reminder.objects.values_list("status").annotate(count=Count("pk")).order_by())
    errors = dict(
        Reminder.objects.exclude(last_error="").values_list("last_error").annotate(count=Count("pk")).order_by()
    )
    assert statuses.get(ReminderStatus.SENT) == items, f"not all sent: {statuses}, errors {errors}"
    return Run(items / elapsed, memory.peak / 2**20)


def _through_sink(clinic: Clinic, items: int, latency: float) -> tuple[Run, Sink | PostfixSink]:
    with smtp_sink(latency) as (sink, port):
        run = _dispatch(clinic, items, f"smtp://127.0.0.1:{port}")
    assert sink.messages == items, f"the SMTP server received {sink.messages} messages, {items} sent"
    return run, sink


def run(clinic: Clinic, items: int = ITEMS) -> dict[str, Any]:
    broker = settings.CELERY_BROKER_URL.split(":")[0]
    senders = settings.AFTERCARE_REMINDER_SEND_CONCURRENCY
    baseline = _baseline(min(items, BASELINE_ITEMS))
    print(f"  baseline, one no-op Celery task per item ({broker} broker, {WORKER_CONCURRENCY} pool processes):")
    print(f"    {baseline:8.0f} items/s")
    if settings.CELERY_BROKER_URL.startswith("filesystem"):
        print(
            "  note: the embedded filesystem broker lists its whole folder for every message, so its no-op\n"
            "  baseline is slow and this ratio flatters dispatch; set CELERY_BROKER_URL to RabbitMQ or Redis\n"
            "  for the figure that matters (e.g. CELERY_BROKER_URL=amqp://guest:guest@127.0.0.1:5672// make bench)."
        )
    print(f"  reminder dispatch, {items} due, one worker ({WORKER_CONCURRENCY} processes x {senders} senders):")
    memory = _dispatch(clinic, items, "dummymail://")
    print(f"    in-memory backend (built, then dropped): {memory.rate:8.0f} reminders/s, peak {memory.peak_mb:.0f} MB")
    fast, fast_sink = _through_sink(clinic, items, 0.0)
    print(
        f"    SMTP server, no latency:                {fast.rate:8.0f} reminders/s, peak {fast.peak_mb:.0f} MB "
        f"({fast_sink.name}: {fast_sink.described()})"
    )
    if not postfix_sink():
        print(
            "  note: without Postfix's smtp-sink, the no-latency server is the aiosmtpd sink, whose ~1 ms of CPU\n"
            "  a message is taken from the cores the worker needs: install postfix for the figure that matters."
        )
    slow, slow_sink = _through_sink(clinic, items, SLOW_SERVER_SECONDS)
    print(
        f"    SMTP server, {SLOW_SERVER_SECONDS * 1000:.0f} ms a message:           {slow.rate:8.0f} reminders/s, "
        f"peak {slow.peak_mb:.0f} MB ({slow_sink.name}: {slow_sink.described()})"
    )
    peak = max(memory.peak_mb, fast.peak_mb, slow.peak_mb)
    print(f"in-memory dispatch / no-op task per item: ratio {memory.rate / baseline:.2f}")
    print(f"dispatch through SMTP / no-op task per item: ratio {fast.rate / baseline:.2f} (target 3 or more)")
    print(
        f"dispatch through SMTP at {SLOW_SERVER_SECONDS * 1000:.0f} ms a message: {slow.rate:.0f} messages/s "
        f"per worker (target 300 or more), ratio to the no-op task {slow.rate / baseline:.2f}; "
        f"peak {peak:.0f} MB (under 300)"
    )
    return {
        "reminders_memory_ratio": memory.rate / baseline,
        "reminders_ratio": fast.rate / baseline,
        "reminders_slow_smtp_per_second": slow.rate,
        "worker_peak_mb": peak,
    }
