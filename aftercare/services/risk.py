"""Queueing risk evaluation: after the attendance that prompted it is committed, never before
(a worker must see the change, and a rolled-back change must not be evaluated). The request is
written to the outbox in the attendance's own transaction, so a broker outage delays the
evaluation but never loses it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aftercare.models import OutboxKind
from aftercare.services.outbox import outbox_enqueue


def risk_evaluate_after_commit(patient_ids: Iterable[Any]) -> None:
    ids = sorted({str(patient_id) for patient_id in patient_ids})
    if ids:
        outbox_enqueue(kind=OutboxKind.RISK_EVALUATE, payload={"patient_ids": ids})
