"""The Celery app. Configuration is Django's settings under the CELERY_ namespace; the schedule is code."""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery, bootsteps
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")

logger = logging.getLogger(__name__)

app = Celery("aftercare")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.include = ["tasks.maintenance", "tasks.outbox", "tasks.reminders", "tasks.risk", "tasks.schedule_tasks"]

from tasks.schedule import BEAT_SCHEDULE  # noqa: E402  (the schedule names tasks of this app)

app.conf.beat_schedule = BEAT_SCHEDULE


class OutboxDrainOnConnect(bootsteps.StartStopStep):
    """A consumer step, started each time the worker's consumer (re)connects to the broker: what
    the outbox gathered while the broker was away goes out now, not at beat's next pass."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, parent: Any) -> None:
        try:
            app.tasks["tasks.outbox.outbox_drain"].apply_async(
                retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
            )
        except Exception as exc:  # the connection dropped again: the next reconnection tries again
            logger.warning("outbox: drain not queued on connecting (%s)", type(exc).__name__)


app.steps["consumer"].add(OutboxDrainOnConnect)

_history_contexts: dict[str, Any] = {}


@task_prerun.connect
def _history_context_enter(task_id: str, task: Any, **kwargs: Any) -> None:
    """Changes a task makes are recorded in the change history as the task's."""
    import pghistory

    context = pghistory.context(actor=f"task:{task.name}")
    context.__enter__()  # type: ignore[no-untyped-call]
    _history_contexts[task_id] = context


@task_postrun.connect
def _history_context_exit(task_id: str, **kwargs: Any) -> None:
    context = _history_contexts.pop(task_id, None)
    if context is not None:
        context.__exit__(None, None, None)
