"""Scheduling work: keep every series booked out to its horizon."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="tasks.schedule_tasks.series_materialize_all")
def series_materialize_all() -> int:
    from aftercare.services.series import series_materialize_all as materialize

    return materialize()
