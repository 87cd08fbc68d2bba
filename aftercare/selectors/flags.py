"""Reads behind the dashboard's flag queue and flag page: the flags with their patients, the last
outreach attempt of each, and every evidence item in words with its context, all in a fixed
number of queries whatever the number of flags."""

from __future__ import annotations

import datetime
import uuid
import zoneinfo
from collections.abc import Iterable, Sequence
from typing import Any

from django.db.models import Case, IntegerField, QuerySet, Value, When

from aftercare.models import (
    ACTIVE_FLAG_STATUSES,
    ActivityKind,
    AftercarePlan,
    Appointment,
    GroupSession,
    PlanStatus,
    RiskFlag,
    RiskFlagEvent,
    Severity,
)
from aftercare.risk.wording import evidence_line
from aftercare.selectors.outreach import with_last_attempt
from clinic.models import Clinic, User

AGES = {"7": (0, 7), "30": (0, 30), "90": (0, 90), "older": (90, None)}

_SEVERITY_ORDER = Case(
    When(severity=Severity.HIGH, then=Value(0)),
    When(severity=Severity.MEDIUM, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


def flag_queue(
    *,
    clinic: Clinic,
    now: datetime.datetime,
    assigned_to: User | None = None,
    severity: str = "",
    rule: str = "",
    statuses: Sequence[str] = ACTIVE_FLAG_STATUSES,
    age: str = "",
) -> QuerySet[RiskFlag]:
    """The clinic's flags the filters keep, most severe first, then the oldest first; each with its
    patient and the id of its last outreach attempt (`last_attempt_id`)."""
    flags = RiskFlag.objects.filter(clinic=clinic, status__in=list(statuses)).select_related("patient")
    if assigned_to is not None:
        flags = flags.filter(patient__assigned_clinician=assigned_to)
    if severity:
        flags = flags.filter(severity=severity)
    if rule:
        flags = flags.filter(rule=rule)
    if age in AGES:
        newest, oldest = AGES[age]
        if oldest is not None:
            flags = flags.filter(raised_at__gt=now - datetime.timedelta(days=oldest))
        if newest:
            flags = flags.filter(raised_at__lte=now - datetime.timedelta(days=newest))
    return with_last_attempt(flags).order_by(_SEVERITY_ORDER, "raised_at", "id")


def flag_detail(*, clinic: Clinic, flag_id: Any) -> RiskFlag | None:
    """One flag of the clinic, with its patient, who acknowledged and closed it, and the id of its
    last outreach attempt."""
    flags = RiskFlag.objects.filter(clinic=clinic, pk=flag_id).select_related(
        "patient", "acknowledged_by", "acknowledged_by_client", "closed_by", "closed_by_client"
    )
    return with_last_attempt(flags).first()


def flag_history(*, flag: RiskFlag) -> QuerySet[RiskFlagEvent]:
    """What the engine saw and what staff (or an EHR) did, oldest first, with who did it."""
    return RiskFlagEvent.objects.filter(flag=flag).select_related("by", "by_client").order_by("at", "id")


def _ids(flags: Iterable[RiskFlag], kind: str) -> set[uuid.UUID]:
    found = set()
    for flag in flags:
        for item in flag.evidence or []:
            if item.get("type") == kind:
                try:
                    found.add(uuid.UUID(str(item.get("id"))))
                except ValueError:
                    continue
    return found


def flag_evidence_lines(flags: Sequence[RiskFlag], *, zone: zoneinfo.ZoneInfo) -> dict[Any, list[str]]:
    """Each flag's evidence in words ("missed individual therapy Wed 14 Oct 12:00, day 29 of the
    plan"), by flag id. Three queries for any number of flags (the flags come with their patients):
    the appointments and group sessions the evidence names, and the patients' active plans."""
    if not flags:
        return {}
    appointment_ids, session_ids = _ids(flags, "appointment"), _ids(flags, "group_session")
    kinds = dict(
        Appointment.objects.filter(pk__in=appointment_ids).values_list("id", "kind") if appointment_ids else []
    )
    groups = dict(
        GroupSession.objects.filter(pk__in=session_ids).values_list("id", "group__name") if session_ids else []
    )
    starts = dict(
        AftercarePlan.objects.filter(
            patient_id__in={flag.patient_id for flag in flags}, status=PlanStatus.ACTIVE
        ).values_list("patient_id", "start_date")
    )
    labels = dict(ActivityKind.choices)

    def what(item: dict[str, Any]) -> str | None:
        try:
            key = uuid.UUID(str(item.get("id")))
        except ValueError:
            return None
        if item.get("type") == "group_session":
            name = groups.get(key)
            return f"group session “{name}”" if name else None
        kind = kinds.get(key)
        return str(labels[kind]).lower() if kind in labels else None

    return {
        flag.pk: [
            evidence_line(
                flag.rule,
                item,
                what=what(item),
                plan_start=starts.get(flag.patient_id),
                discharged_on=flag.patient.discharge_date,
                zone=zone,
            )
            for item in flag.evidence or []
        ]
        for flag in flags
    }
