"""The beat schedule, in code and reviewed like code (not rows in a database)."""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # Each clinic's 07:00 comes at a different UTC hour; the task sends to those where it is now.
    "digests-send": {
        "task": "tasks.reminders.digests_send",
        "schedule": crontab(minute="*/10"),
        "options": {"expires": 9 * 60},
    },
    "reminders-dispatch": {
        "task": "tasks.reminders.reminders_dispatch",
        "schedule": 60.0,
        # A pass that waited longer than its own interval is replaced by the next one.
        "options": {"expires": 55},
    },
    # Work recorded in the outbox while the broker was away (or that the web process could not
    # publish): a short period, so it waits seconds after the broker is back, not the sweep's hour.
    "outbox-drain": {
        "task": "tasks.outbox.outbox_drain",
        "schedule": 15.0,
        "options": {"expires": 14},
    },
    # Hourly: each clinic's send hour comes at a different UTC hour, and a link expires within the hour.
    "checkins-run": {
        "task": "tasks.checkins.checkins_run",
        "schedule": crontab(minute=11),
        "options": {"expires": 50 * 60},
    },
    # Time-based rules (no contact, after discharge) fire without any new attendance.
    "risk-sweep": {
        "task": "tasks.risk.risk_sweep",
        "schedule": crontab(minute=7),
        "options": {"expires": 50 * 60},
    },
    # Idempotent, so running it hourly only keeps the 90-day horizon a day ahead at most.
    "series-materialize-all": {
        "task": "tasks.schedule_tasks.series_materialize_all",
        "schedule": crontab(minute=23),
        "options": {"expires": 50 * 60},
    },
    "idempotency-keys-purge": {
        "task": "tasks.maintenance.idempotency_keys_purge",
        "schedule": crontab(minute=17),
        "options": {"expires": 30 * 60},
    },
    "outbox-purge": {
        "task": "tasks.maintenance.outbox_purge",
        "schedule": crontab(minute=47),
        "options": {"expires": 30 * 60},
    },
    # Daily, though a month's partition is needed at most once a month: two months are made ahead,
    # so a run that could not take its lock (clinic/services/access_partitions.py) has sixty more tries.
    "access-log-partitions": {
        "task": "tasks.maintenance.access_log_partitions",
        "schedule": crontab(hour=2, minute=53),
        "options": {"expires": 60 * 60},
    },
    "oauth-tokens-clear-expired": {
        "task": "tasks.maintenance.oauth_tokens_clear_expired",
        "schedule": crontab(hour=3, minute=41),
        "options": {"expires": 60 * 60},
    },
}
