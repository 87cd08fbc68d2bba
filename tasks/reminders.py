"""Reminder sending. The beat task runs every minute; the database decides what is due, so a
redelivered or duplicated message sends nothing new."""

from __future__ import annotations

import datetime

from celery import shared_task
from django.conf import settings


@shared_task(name="tasks.reminders.reminders_dispatch")
def reminders_dispatch() -> int:
    from aftercare.services.reminder_dispatch import reminders_dispatch_all

    result = reminders_dispatch_all(budget=datetime.timedelta(seconds=settings.AFTERCARE_REMINDER_PASS_SECONDS))
    if result.more:
        # The pass stopped for time with rows still due: the rest now, not at the next beat.
        reminders_dispatch.delay()
    return result.sent


@shared_task(name="tasks.reminders.digests_send")
def digests_send() -> int:
    from aftercare.services.digests import digests_send as send

    return send()
