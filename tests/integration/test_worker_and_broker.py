"""A real worker on a real broker runs the scheduled housekeeping against the real database."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from clinic.models import Clinic, IdempotencyKey
from tasks.celery import app
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration


def _stale_and_fresh_keys() -> None:
    clinic = Clinic.objects.create(slug="int", name="Integration", time_zone="UTC")
    old = timezone.now() - datetime.timedelta(days=2)
    IdempotencyKey.objects.create(clinic=clinic, caller="client:1", key="stale", fingerprint="x", created_at=old)
    IdempotencyKey.objects.create(clinic=clinic, caller="client:1", key="fresh", fingerprint="x")


def test_a_worker_on_the_broker_runs_the_purge_task(worker: str, broker_url: str) -> None:
    _stale_and_fresh_keys()
    with app.connection_for_write(broker_url) as broker:
        app.send_task("tasks.maintenance.idempotency_keys_purge", queue=worker, connection=broker)

    def purged() -> bool:
        connection.close()  # see the worker's commits, not a snapshot
        return not IdempotencyKey.objects.filter(key="stale").exists()

    wait_for(purged)
    assert IdempotencyKey.objects.filter(key="fresh").exists()


def test_health_is_ok_on_the_real_broker(transactional_db: None, broker_url: str, settings: Any) -> None:
    settings.CELERY_BROKER_URL = broker_url
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    response = APIClient().get("/health/")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}
