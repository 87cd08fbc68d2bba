"""The Celery app. Configuration is Django's settings under the CELERY_ namespace; the schedule is code."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")

app = Celery("aftercare")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.include = [
    "tasks.checkins",
    "tasks.maintenance",
    "tasks.outbox",
    "tasks.reminders",
    "tasks.risk",
    "tasks.schedule_tasks",
]

from tasks.schedule import BEAT_SCHEDULE  # noqa: E402  (the schedule names tasks of this app)

app.conf.beat_schedule = BEAT_SCHEDULE

from tasks.outbox import OutboxDrainOnConnect  # noqa: E402  (each worker drains the outbox on connecting)

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
