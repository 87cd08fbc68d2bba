"""Reminder sending. The beat task runs every minute; the database decides what is due, so a
redelivered or duplicated message sends nothing new."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="tasks.reminders.reminders_dispatch")
def reminders_dispatch() -> int:
    from aftercare.services.reminder_dispatch import reminders_dispatch_all

    return reminders_dispatch_all().sent


@shared_task(name="tasks.reminders.digests_send")
def digests_send() -> int:
    from aftercare.services.digests import digests_send as send

    return send()
