"""Reminder sending. The beat task runs every minute; the database decides what is due, so a
redelivered or duplicated message sends nothing new."""

from __future__ import annotations

import datetime
from typing import Any

from celery import shared_task
from django.conf import settings


@shared_task(bind=True, name="tasks.reminders.reminders_dispatch")
def reminders_dispatch(self: Any) -> int:
    from aftercare.services.reminder_dispatch import reminders_dispatch_all

    result = reminders_dispatch_all(budget=datetime.timedelta(seconds=settings.AFTERCARE_REMINDER_PASS_SECONDS))
    if result.more:
        # The pass stopped in time, with rows still due: the rest now, not at the next beat, on
        # the queue this pass came from (whichever workers serve it).
        queue = (self.request.delivery_info or {}).get("routing_key")
        self.apply_async(queue=queue) if queue else self.delay()
    return result.sent


@shared_task(name="tasks.reminders.digests_send")
def digests_send() -> int:
    from aftercare.services.digests import digests_send as send

    return send()
