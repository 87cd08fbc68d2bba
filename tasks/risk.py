"""Risk evaluation: for the patients whose attendance just changed (queued after commit), and the
hourly sweep that catches time-based rules (no contact, after discharge) with no new attendance."""

from __future__ import annotations

import datetime
from typing import Any

from celery import shared_task


@shared_task(name="tasks.risk.risk_evaluate_patients")
def risk_evaluate_patients(patient_ids: list[str], now: str | None = None) -> dict[str, int]:
    """`now` (ISO 8601) evaluates as of another moment; by default, the moment the task runs."""
    from aftercare.risk.engine import evaluate

    result = evaluate(patient_ids=patient_ids, now=datetime.datetime.fromisoformat(now) if now else None)
    return {"raised": result.raised, "escalated": result.escalated}


@shared_task(name="tasks.risk.risk_sweep")
def risk_sweep() -> dict[str, int]:
    from aftercare.risk.engine import risk_sweep as sweep

    result = sweep()
    return {"patients": result.patients, "raised": result.raised, "escalated": result.escalated}


@shared_task(
    name="tasks.risk.flags_notify",
    autoretry_for=(OSError,),  # the mail server or provider being away: try again
    retry_backoff=30,
    max_retries=8,
)
def flags_notify(flag_ids: list[Any]) -> int:
    from aftercare.services.flags import flags_notify as notify

    return notify(flag_ids=flag_ids)
