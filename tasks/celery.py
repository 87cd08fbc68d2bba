"""The Celery app. Configuration is Django's settings under the CELERY_ namespace; the schedule is code."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")

app = Celery("aftercare")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.include = ["tasks.maintenance", "tasks.reminders", "tasks.risk", "tasks.schedule_tasks"]

from tasks.schedule import BEAT_SCHEDULE  # noqa: E402  (the schedule names tasks of this app)

app.conf.beat_schedule = BEAT_SCHEDULE
