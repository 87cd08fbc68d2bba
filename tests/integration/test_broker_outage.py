"""The broker goes away while a worker and a sweeper are running, then comes back: no reminder is
lost and none goes out twice. A TCP proxy stands between them and the broker, so the test can cut
every connection and refuse new ones, as a broker restart or a network partition does."""

from __future__ import annotations

import datetime
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from aftercare.models import Reminder, ReminderStatus
from tasks.celery import app
from tests.integration.conftest import start_worker, stop, wait_for
from tests.integration.proxy import BrokerProxy
from tests.integration.test_reminders_race import REMINDERS, _due_reminders, _messages_written

pytestmark = pytest.mark.integration


class Sweeper(threading.Thread):
    """Beat's part: a dispatch pass queued every half second, whatever the broker is doing."""

    def __init__(self, broker_url: str, queue: str) -> None:
        super().__init__(daemon=True)
        self.broker_url, self.queue = broker_url, queue
        self.running = True
        self.queued = self.refused = 0

    def run(self) -> None:
        while self.running:
            try:
                with app.connection_for_write(self.broker_url, connect_timeout=2) as broker:
                    app.send_task(
                        "tasks.reminders.reminders_dispatch", queue=self.queue, connection=broker, retry=False
                    )
                self.queued += 1
            except Exception:  # beat logs the failure and tries again next time
                self.refused += 1
            time.sleep(0.5)


def _sent() -> int:
    connection.close()  # see the worker's commits, not a snapshot
    return Reminder.objects.filter(status=ReminderStatus.SENT).count()


def test_stopping_the_broker_loses_no_reminder_and_sends_none_twice(
    transactional_db: None, broker_url: str, tmp_path: Path
) -> None:
    _due_reminders()
    half = REMINDERS // 2
    later = Reminder.objects.filter(pk__in=Reminder.objects.order_by("starts_at").values("pk")[half:])
    later.update(send_at=timezone.now() + datetime.timedelta(days=1))

    proxy = BrokerProxy(broker_url)
    proxy.start()
    queue = f"aftercare-outage-{uuid.uuid4().hex[:8]}"
    worker = start_worker(proxy.url, queue, env={"AFTERCARE_DATA_DIR": str(tmp_path)})
    sweeper = Sweeper(proxy.url, queue)
    sweeper.start()
    try:
        wait_for(lambda: _sent() == half, timeout=90)

        proxy.cut()
        time.sleep(3)  # any pass already on the worker finishes (with nothing more due)
        # While the broker is away, the other half falls due.
        Reminder.objects.filter(status=ReminderStatus.PENDING).update(
            send_at=timezone.now() - datetime.timedelta(minutes=1)
        )
        refused_before = sweeper.refused
        time.sleep(6)
        assert sweeper.refused > refused_before, "the sweeper must have found the broker gone"
        assert _sent() == half, "nothing can be dispatched while the broker is away"

        proxy.start()
        wait_for(lambda: _sent() == REMINDERS, timeout=120)
    finally:
        sweeper.running = False
        sweeper.join(timeout=10)
        stop(worker)
        proxy.cut()

    assert Reminder.objects.exclude(status=ReminderStatus.SENT).count() == 0
    assert set(Reminder.objects.values_list("attempts", flat=True)) == {1}
    assert _messages_written(tmp_path / "mail") == REMINDERS
