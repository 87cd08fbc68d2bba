"""Reads of check-ins: the dashboard's trend and next one due, and what a disclosure releases."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from aftercare.checkins.instrument import ITEM_NAMES
from aftercare.models import OPEN_CHECKIN_STATUSES, AftercarePlan, CheckIn, CheckInResponse, CheckInStatus, PlanStatus
from clinic.models import Clinic, DisclosureCategory, Patient
from clinic.releases import Released, release_provider_register

TREND_LENGTH = 8


def checkin_list(*, clinic: Clinic) -> QuerySet[CheckIn]:
    """The clinic's check-ins, each with its answers (one query: a one-to-one join)."""
    return CheckIn.objects.filter(clinic=clinic).select_related("response")


def checkin_trend(*, patient: Patient, length: int = TREND_LENGTH) -> list[CheckInResponse]:
    """The patient's last `length` answers, oldest first (a trend reads left to right)."""
    latest = CheckInResponse.objects.filter(patient=patient).order_by("-answered_at")[:length]
    return list(reversed(latest))


@dataclass(frozen=True)
class NextCheckIn:
    """What comes next for the patient: the open check-in (`checkin`), or the local date the next
    falls due (`due_on`), or neither when check-ins are off for them."""

    checkin: CheckIn | None
    due_on: datetime.date | None


def checkin_next(*, patient: Patient, plan: AftercarePlan | None) -> NextCheckIn:
    """`plan` is the patient's current plan (the page has it already). One query: the patient's
    latest check-in that counts (see `services.checkins._due_plans`) is the open one if any is
    open (only the newest can be), else where the next turn counts from."""
    latest = (
        CheckIn.objects.filter(patient=patient)
        .exclude(status=CheckInStatus.CANCELLED, attempts=0)
        .order_by("-due_on", "-created_at")
        .first()
    )
    if latest is not None and latest.status in OPEN_CHECKIN_STATUSES:
        return NextCheckIn(checkin=latest, due_on=latest.due_on)
    if plan is None or plan.status != PlanStatus.ACTIVE or plan.checkin_every_days == 0:
        return NextCheckIn(checkin=None, due_on=None)
    if not patient.checkins_opt_in or not patient.email:
        return NextCheckIn(checkin=None, due_on=None)
    every = datetime.timedelta(days=plan.checkin_every_days)
    start = plan.start_date or plan.created_at.astimezone(patient.clinic.zone).date()
    return NextCheckIn(checkin=None, due_on=(latest.due_on if latest is not None else start) + every)


def _instant(value: datetime.datetime | None) -> str | None:
    return value.astimezone(datetime.UTC).isoformat() if value is not None else None


def answers_of(response: CheckInResponse | None) -> dict[str, Any] | None:
    if response is None:
        return None
    return {**{name: getattr(response, name) for name in ITEM_NAMES}, "wants_call": response.wants_call}


def check_ins(patient: Patient, categories: frozenset[str]) -> Released:
    """Every check-in that went out, with the answers: nothing else about the patient."""
    sent = (
        CheckIn.objects.filter(patient=patient, sent_at__isnull=False)
        .select_related("response")
        .order_by("due_on", "created_at")
    )
    data = []
    for checkin in sent:
        response = getattr(checkin, "response", None)
        data.append(
            {
                "due_on": checkin.due_on.isoformat(),
                "status": checkin.status,
                "answered_at": _instant(checkin.answered_at),
                "instrument": response.instrument if response else None,
                "answers": answers_of(response),
                "risk_score": response.risk_score if response else None,
                "protective_score": response.protective_score if response else None,
            }
        )
    return Released(data)


def checkins_release_provider_register() -> None:
    release_provider_register(DisclosureCategory.CHECK_INS, check_ins)
