"""Reads of the outreach log: a patient's or a flag's attempts, and the last attempt behind each
row of a list (in a fixed number of queries, whatever the number of rows)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery

from aftercare.models import OutreachAttempt, RiskFlag
from clinic.models import Clinic


def outreach_list(*, clinic: Clinic) -> QuerySet[OutreachAttempt]:
    """Every attempt of the clinic (the API's list; filtered there by patient, flag, updated_since)."""
    return OutreachAttempt.objects.filter(clinic=clinic)


def outreach_for(*, clinic: Clinic, patient_id: Any, flag_id: Any = None) -> QuerySet[OutreachAttempt]:
    """A patient's attempts (or a flag's), newest first, with who made them."""
    attempts = OutreachAttempt.objects.filter(clinic=clinic, patient_id=patient_id)
    if flag_id is not None:
        attempts = attempts.filter(flag_id=flag_id)
    return attempts.select_related("by", "by_client").order_by("-attempted_at", "-created_at")


@dataclass(frozen=True)
class LastAttempt:
    attempt: OutreachAttempt
    overdue: bool  # its follow-up date has passed, and nothing was tried since


def _latest_of_patient(since: Any = None) -> Subquery:
    attempts = OutreachAttempt.objects.filter(patient_id=OuterRef("patient_id"))
    if since is not None:
        attempts = attempts.filter(attempted_at__gte=since)
    return Subquery(attempts.order_by("-attempted_at", "-created_at").values("id")[:1])


def with_last_attempt(flags: QuerySet[RiskFlag]) -> QuerySet[RiskFlag]:
    """Annotate each flag with `last_attempt_id`: the latest attempt to reach its patient since the
    flag was raised, whether it was logged on the flag or on the patient (a call is a call)."""
    return flags.annotate(last_attempt_id=_latest_of_patient(OuterRef("raised_at")))


def last_attempts(attempt_ids: Iterable[Any], *, today: datetime.date) -> dict[Any, LastAttempt]:
    """The attempts named (one query), by id, each with whether its follow-up is overdue."""
    wanted = {attempt_id for attempt_id in attempt_ids if attempt_id is not None}
    if not wanted:
        return {}
    attempts = OutreachAttempt.objects.filter(pk__in=wanted).select_related("by", "by_client")
    return {
        attempt.pk: LastAttempt(attempt, attempt.follow_up_on is not None and attempt.follow_up_on < today)
        for attempt in attempts
    }


def patient_last_attempts(
    *, clinic: Clinic, patient_ids: Iterable[Any], today: datetime.date
) -> dict[Any, LastAttempt]:
    """The latest attempt for each patient named, by patient id: two queries, whatever the count."""
    ids = list(patient_ids)
    if not ids:
        return {}
    latest = (
        OutreachAttempt.objects.filter(clinic=clinic, patient_id__in=ids)
        .order_by("patient_id", "-attempted_at", "-created_at")
        .distinct("patient_id")
        .values_list("id", flat=True)
    )
    found = last_attempts(list(latest), today=today)
    return {last.attempt.patient_id: last for last in found.values()}
