"""Reminder dispatch against one no-op Celery task per item, on the same broker, in one run.

Target (DESIGN.md): dispatching 100 000 due reminders with one worker (concurrency 2) at 3 times
or more the rate of a no-op task per item; the worker's peak memory under 300 MB.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count

from aftercare.models import Reminder, ReminderStatus
from bench.harness import ROOT, PeakMemory
from clinic.embedded import database_url
from clinic.models import Clinic
from tasks.celery import app

ITEMS = 100_000
# The baseline is a rate: measured over this many no-op tasks (the filesystem broker moves about
# a hundred a second, and 100 000 of them would take the better part of half an hour).
BASELINE_ITEMS = 5_000


def _worker(queue: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        # In memory: the message is built in full (templates, calendar file) and then dropped.
        "EMAIL_URL": "dummymail://",
        "AFTERCARE_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "tasks", "worker", "--include", "bench.celery_tasks",
            "--queues", queue, "--concurrency", "2", "--without-mingle", "--without-gossip",
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
    queue = f"bench-noop-{uuid.uuid4().hex[:6]}"
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


def _dispatch(clinic: Clinic, items: int) -> tuple[float, float]:
    _seed_due(clinic, items)
    queue = f"bench-reminders-{uuid.uuid4().hex[:6]}"
    process = _worker(queue)
    memory = PeakMemory(process.pid)
    memory.start()
    try:
        started = time.perf_counter()
        with app.connection_for_write() as conn:
            for _ in range(2):  # one pass per pool process; each drains batches until none is due
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
    return items / elapsed, memory.peak / 2**20


def run(clinic: Clinic, items: int = ITEMS) -> dict[str, Any]:
    baseline = _baseline(min(items, BASELINE_ITEMS))
    print(f"  one no-op task per item: {baseline:8.0f} items/s ({settings.CELERY_BROKER_URL.split(':')[0]} broker)")
    if settings.CELERY_BROKER_URL.startswith("filesystem"):
        print(
            "  note: the embedded filesystem broker lists its whole folder for every message, so its no-op\n"
            "  baseline is slow and this ratio flatters dispatch; set CELERY_BROKER_URL to RabbitMQ or Redis\n"
            "  for the figure that matters (e.g. CELERY_BROKER_URL=amqp://guest:guest@127.0.0.1:5672// make bench)."
        )
    rate, peak = _dispatch(clinic, items)
    print(f"  reminder dispatch:       {rate:8.0f} reminders/s, worker peak memory {peak:.0f} MB")
    print(
        f"reminder dispatch / no-op task per item: ratio {rate / baseline:.2f} (target 3 or more), "
        f"peak {peak:.0f} MB (under 300)"
    )
    return {"reminders_ratio": rate / baseline, "worker_peak_mb": peak}
