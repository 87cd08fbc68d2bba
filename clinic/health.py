"""`/health/`: can this process reach its database and its broker? For load balancers and compose."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection

logger = logging.getLogger(__name__)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return bool(cursor.fetchone() == (1,))
    except Exception as exc:
        logger.warning("health: database unreachable (%s)", type(exc).__name__)
        return False


def _broker_ok() -> bool:
    timeout = settings.AFTERCARE_HEALTH_BROKER_TIMEOUT
    try:
        with Connection(
            settings.CELERY_BROKER_URL,
            transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
            connect_timeout=timeout,
        ) as broker:
            broker.ensure_connection(max_retries=1, timeout=timeout)
        return True
    except Exception as exc:
        logger.warning("health: broker unreachable (%s)", type(exc).__name__)
        return False


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    healthy = all(checks.values())
    return JsonResponse(
        {
            "status": "ok" if healthy else "unavailable",
            "checks": {k: "ok" if v else "failing" for k, v in checks.items()},
        },
        status=200 if healthy else 503,
    )
