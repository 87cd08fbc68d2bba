"""Attendance recorded while the broker is away: the API answers 200 (the write is committed and
the evaluation it calls for is kept in the database), and once the broker is back the worker
evaluates the patient, without waiting for the hourly sweep and with no beat running."""

from __future__ import annotations

import time
import uuid
from uuid import UUID

import pytest
from django.db import connection

from aftercare.models import RiskFlag, RiskRule
from tests.aftercare.test_outbox import A, second_miss_ahead
from tests.broker import CLOSED_BROKER_URL, publishing_to
from tests.conftest import Persona
from tests.integration.conftest import start_worker, stop, wait_for
from tests.integration.proxy import BrokerProxy

pytestmark = pytest.mark.integration


def _flagged(patient_id: UUID) -> bool:
    connection.close()  # see the worker's commits, not a snapshot
    return RiskFlag.objects.filter(patient_id=patient_id, rule=RiskRule.CONSECUTIVE_MISSED).exists()


def test_attendance_recorded_while_the_broker_is_down_is_evaluated_once_it_is_back(
    transactional_db: None, broker_url: str, ehr_a: Persona
) -> None:
    first, second = second_miss_ahead(ehr_a), second_miss_ahead(ehr_a)
    proxy = BrokerProxy(broker_url)
    proxy.start()
    queue = f"aftercare-outbox-{uuid.uuid4().hex[:8]}"
    # The worker publishes what the outbox holds to its own queue, so no other test's worker takes it.
    worker = start_worker(proxy.url, queue, env={"CELERY_TASK_DEFAULT_QUEUE": queue})
    try:
        # The web process cannot reach any broker; the worker, once started, delivers the first
        # patient's evaluation from the outbox: it is then up and connected through the proxy.
        with publishing_to(CLOSED_BROKER_URL):
            response = ehr_a.api.post(f"/api/v1/appointments/{first.pk}/attendance/", {"status": A.MISSED})
        assert response.status_code == 200, response.content
        wait_for(lambda: _flagged(first.patient_id), timeout=120)

        proxy.cut()  # the broker goes away, for the worker and the web process alike
        with publishing_to(proxy.url):
            response = ehr_a.api.post(f"/api/v1/appointments/{second.pk}/attendance/", {"status": A.MISSED})
        assert response.status_code == 200, response.content
        time.sleep(3)
        assert not _flagged(second.patient_id), "nothing can be evaluated while the broker is away"

        proxy.start()
        wait_for(lambda: _flagged(second.patient_id), timeout=120)
    finally:
        stop(worker)
        proxy.cut()
