"""The beat schedule, in code and reviewed like code (not rows in a database)."""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "idempotency-keys-purge": {
        "task": "tasks.maintenance.idempotency_keys_purge",
        "schedule": crontab(minute=17),
        "options": {"expires": 30 * 60},
    },
    "oauth-tokens-clear-expired": {
        "task": "tasks.maintenance.oauth_tokens_clear_expired",
        "schedule": crontab(hour=3, minute=41),
        "options": {"expires": 60 * 60},
    },
}
