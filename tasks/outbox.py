"""Publishing the outbox: which task each kind of message wakes, and the drain that beat runs every
few seconds (and each worker queues whenever it connects to the broker, see tasks/celery.py)."""

from __future__ import annotations

import logging
from typing import Any

from celery import bootsteps, shared_task

from tasks.risk import flags_notify, risk_evaluate_patients

logger = logging.getLogger(__name__)

# A publish that fails is retried once at once (a pooled connection the broker dropped is
# replaced); after that the message waits in the outbox, and the request that wrote it goes on.
_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}


def _publish_risk_evaluate(payload: dict[str, Any]) -> None:
    risk_evaluate_patients.apply_async(kwargs={"patient_ids": payload["patient_ids"]}, retry_policy=_RETRY_POLICY)


def _publish_flags_notify(payload: dict[str, Any]) -> None:
    flags_notify.apply_async(kwargs={"flag_ids": payload["flag_ids"]}, retry_policy=_RETRY_POLICY)


def outbox_publishers_register() -> None:
    from aftercare.models import OutboxKind
    from aftercare.services.outbox import outbox_publisher_register

    outbox_publisher_register(kind=OutboxKind.RISK_EVALUATE, publish=_publish_risk_evaluate)
    outbox_publisher_register(kind=OutboxKind.FLAGS_NOTIFY, publish=_publish_flags_notify)


@shared_task(name="tasks.outbox.outbox_drain")
def outbox_drain() -> dict[str, int]:
    from aftercare.services.outbox import outbox_drain as drain

    result = drain()
    return {"published": result.published, "failed": result.failed}


class OutboxDrainOnConnect(bootsteps.StartStopStep):
    """A worker consumer step, started each time the consumer (re)connects to the broker: what the
    outbox gathered while the broker was away goes out now, not at beat's next pass."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, parent: Any) -> None:
        try:
            outbox_drain.apply_async(retry_policy=_RETRY_POLICY)
        except Exception as exc:  # the connection dropped again: the next reconnection tries again
            logger.warning("outbox: drain not queued on connecting (%s)", type(exc).__name__)
