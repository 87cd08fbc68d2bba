"""Queueing risk evaluation: after the attendance that prompted it is committed, never before
(a worker must see the change, and a rolled-back change must not be evaluated)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction


def risk_evaluate_after_commit(patient_ids: Iterable[Any]) -> None:
    from tasks.risk import risk_evaluate_patients

    ids = sorted({str(patient_id) for patient_id in patient_ids})
    if ids:
        transaction.on_commit(lambda: risk_evaluate_patients.delay(ids))
