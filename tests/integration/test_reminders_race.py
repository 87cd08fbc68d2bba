"""Two workers and two sweepers racing over the same due reminders, on a real broker: each
reminder goes out once, and redelivered task messages send nothing new."""

from __future__ import annotations

import datetime
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from aftercare.models import Reminder, ReminderStatus
from tasks.celery import app
from tests.aftercare.factories import due_reminders
from tests.integration.conftest import start_worker, stop, wait_for

pytestmark = pytest.mark.integration

REMINDERS = 120


def _due_reminders() -> None:
    due_reminders(REMINDERS, apart=datetime.timedelta(hours=1))


def _messages_written(mail_dir: Path) -> int:
    return sum(
        line.startswith("Message-ID: ") for path in mail_dir.glob("*.log") for line in path.read_text().splitlines()
    )


def test_two_workers_and_two_sweepers_send_each_reminder_once(
    transactional_db: None, broker_url: str, tmp_path: Path
) -> None:
    _due_reminders()
    queue = f"aftercare-race-{uuid.uuid4().hex[:8]}"
    env = {"AFTERCARE_DATA_DIR": str(tmp_path)}
    workers = [start_worker(broker_url, queue, env=env, concurrency=2) for _ in range(2)]
    try:
        task_ids = [str(uuid.uuid4()) for _ in range(10)]

        def sweeper() -> None:
            with app.connection_for_write(broker_url) as broker:
                for task_id in task_ids:
                    # The same ids from both sweepers: a redelivered message is a duplicate run.
                    app.send_task("tasks.reminders.reminders_dispatch", queue=queue, connection=broker, task_id=task_id)

        threads = [threading.Thread(target=sweeper) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        def all_sent() -> bool:
            connection.close()
            return Reminder.objects.filter(status=ReminderStatus.SENT).count() == REMINDERS

        wait_for(all_sent, timeout=90)
    finally:
        for process in workers:
            stop(process)
    assert Reminder.objects.exclude(status=ReminderStatus.SENT).count() == 0
    assert set(Reminder.objects.values_list("attempts", flat=True)) == {1}
    assert _messages_written(tmp_path / "mail") == REMINDERS


def test_reminders_due_while_nothing_ran_all_go_out_when_work_resumes(
    transactional_db: None, broker_url: str, tmp_path: Path
) -> None:
    # The database, not the broker, holds what is due: nothing queued while the broker was away
    # is needed for the next sweep to send everything still ahead of its session.
    _due_reminders()
    Reminder.objects.filter(pk__in=Reminder.objects.values("pk")[:10]).update(
        starts_at=timezone.now() - datetime.timedelta(minutes=5)
    )
    queue = f"aftercare-resume-{uuid.uuid4().hex[:8]}"
    process: Any = start_worker(broker_url, queue, env={"AFTERCARE_DATA_DIR": str(tmp_path)})
    try:
        with app.connection_for_write(broker_url) as broker:
            app.send_task("tasks.reminders.reminders_dispatch", queue=queue, connection=broker)

        def settled() -> bool:
            connection.close()
            return not Reminder.objects.filter(
                status__in=[ReminderStatus.PENDING, ReminderStatus.CLAIMED, ReminderStatus.SENDING]
            ).exists()

        wait_for(settled, timeout=90)
    finally:
        stop(process)
    assert Reminder.objects.filter(status=ReminderStatus.SENT).count() == REMINDERS - 10
    assert Reminder.objects.filter(status=ReminderStatus.EXPIRED).count() == 10
