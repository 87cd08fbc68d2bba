"""Check-ins: the hourly pass that expires old links, makes the check-ins that are due and sends
them. The database decides what is due, so a duplicated or redelivered message sends nothing new."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="tasks.checkins.checkins_run")
def checkins_run() -> dict[str, int]:
    from aftercare.services.checkins import checkins_run as run

    result = run()
    return {
        "expired": result.expired,
        "in_doubt": result.in_doubt,
        "scheduled": result.scheduled,
        "sent": result.sent,
        "retried": result.retried,
        "cancelled": result.cancelled,
    }
