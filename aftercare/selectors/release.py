"""The aftercare records a disclosure may release (`clinic.releases`), one provider per category.

Only what the category names: no free-text notes, no ids of other records, no staff identities.
Medication-assisted treatment is its own category, so a release of attendance or of the plan
leaves medication visits and MAT activities out unless `medication` is released too; it carries the
MAT events (doses, take-homes, injections, missed doses) as well. Care transitions go with
`enrollment`, drug screens are `drug_screens`; a record entered in error is never released.

A risk flag is drawn from more than itself: from what its rule reads (`Rule.drawn_from`: attendance
for every rule today, the enrollment dates, the plan's start, medication starts or medication
visits) and from every session that was ever its evidence, in the flag's history as well as now (a
severity or a raising date may rest on evidence that has since gone). A flag goes only when all of
those categories are released; otherwise it is left out whole, not recomputed: a recomputed flag
would be a flag the clinic never raised.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from typing import Any

from aftercare.models import (
    ActivityKind,
    AftercarePlan,
    Appointment,
    CareTransition,
    DrugScreen,
    GroupAttendance,
    MedicationEvent,
    OutsideMeeting,
    PlanActivity,
    PlanStatus,
    RiskFlag,
    RiskFlagEvent,
)
from aftercare.risk.rules import RULES
from clinic.models import DisclosureCategory, Patient
from clinic.releases import Released, release_part_register, release_provider_register

_EVERY_CATEGORY = frozenset(DisclosureCategory.values)


def _instant(value: datetime.datetime | None) -> str | None:
    return value.astimezone(datetime.UTC).isoformat() if value is not None else None


def _day(value: datetime.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _current_plan(patient: Patient) -> AftercarePlan | None:
    """The active plan, or else the most recent one."""
    plans = AftercarePlan.objects.filter(patient=patient)
    return plans.filter(status=PlanStatus.ACTIVE).first() or plans.order_by("-created_at", "-id").first()


def _activities(plan: AftercarePlan | None, *, medication: bool) -> list[PlanActivity]:
    if plan is None:
        return []
    activities = PlanActivity.objects.filter(plan=plan).order_by("position", "created_at")
    if medication:
        return list(activities.filter(kind=ActivityKind.MEDICATION))
    return list(activities.exclude(kind=ActivityKind.MEDICATION))


def attendance(patient: Patient, categories: frozenset[str]) -> Released:
    appointments = Appointment.objects.filter(patient=patient).order_by("starts_at", "id")
    withheld = 0
    if DisclosureCategory.MEDICATION not in categories:
        withheld = appointments.filter(kind=ActivityKind.MEDICATION).count()
        appointments = appointments.exclude(kind=ActivityKind.MEDICATION)
    sessions = (
        GroupAttendance.objects.filter(patient=patient)
        .select_related("session__group")
        .order_by("session__starts_at", "id")
    )
    meetings = OutsideMeeting.objects.filter(patient=patient).order_by("date", "created_at")
    data = {
        "appointments": [
            {
                "kind": appointment.kind,
                "starts_at": _instant(appointment.starts_at),
                "ends_at": _instant(appointment.ends_at),
                "status": appointment.attendance_status,
            }
            for appointment in appointments
        ],
        "group_sessions": [
            {
                "group_kind": row.session.group.kind,
                "starts_at": _instant(row.session.starts_at),
                "status": row.status,
            }
            for row in sessions
        ],
        "outside_meetings": [{"kind": meeting.kind, "date": _day(meeting.date)} for meeting in meetings],
    }
    return Released(data, withheld)


def plan(patient: Patient, categories: frozenset[str]) -> Released:
    current = _current_plan(patient)
    if current is None:
        return Released(None)
    # MAT activities belong to `medication`: released there, never here.
    withheld = 0 if DisclosureCategory.MEDICATION in categories else len(_activities(current, medication=True))
    data = {
        "status": current.status,
        "start_date": _day(current.start_date),
        "end_date": _day(current.end_date),
        "goals": current.goals,
        "warning_signs": list(current.warning_signs),
        "triggers": current.triggers,
        "coping_strategies": list(current.coping_strategies),
        "daily_routine": current.daily_routine,
        "emergency_plan": current.emergency_plan,
        "support_persons": current.support_persons,
        "sponsor": current.sponsor,
        "activities": [
            {
                "kind": activity.kind,
                "frequency_count": activity.frequency_count,
                "frequency_period": activity.frequency_period,
                "provider": activity.provider,
                "support_group_kind": activity.support_group_kind,
                "wellness_kind": activity.wellness_kind,
            }
            for activity in _activities(current, medication=False)
        ],
    }
    return Released(data, withheld)


def medication(patient: Patient, categories: frozenset[str]) -> Released:
    activities = [
        {
            "medication": activity.medication,
            "dose_schedule": activity.dose_schedule,
            "medication_started_on": _day(activity.medication_started_on),
            "frequency_count": activity.frequency_count,
            "frequency_period": activity.frequency_period,
            "provider": activity.provider,
        }
        for activity in _activities(_current_plan(patient), medication=True)
    ]
    events = MedicationEvent.objects.filter(patient=patient, entered_in_error=False).order_by("occurred_on", "id")
    data = {
        "activities": activities,
        "events": [
            {
                "medication": event.medication,
                "kind": event.kind,
                "occurred_on": _day(event.occurred_on),
                "days_covered": event.days_covered,
                "dose_mg": str(event.dose_mg) if event.dose_mg is not None else None,
            }
            for event in events
        ],
    }
    return Released(data)


def care_transitions(patient: Patient, categories: frozenset[str]) -> Released:
    """Part of `enrollment`: the steps into and out of aftercare in force (not entered in error)."""
    transitions = CareTransition.objects.filter(patient=patient, entered_in_error=False).order_by("occurred_on", "id")
    data = [
        {
            "direction": transition.direction,
            "level_of_care": transition.level_of_care,
            "occurred_on": _day(transition.occurred_on),
            "source": transition.source,
        }
        for transition in transitions
    ]
    return Released(data)


def drug_screens(patient: Patient, categories: frozenset[str]) -> Released:
    """The screens in force with their results; no notes (free text may say anything)."""
    screens = (
        DrugScreen.objects.filter(patient=patient, entered_in_error=False)
        .prefetch_related("results")
        .order_by("collected_on", "id")
    )
    data = [
        {
            "collected_on": _day(screen.collected_on),
            "specimen": screen.specimen,
            "panel": screen.panel,
            "results": [
                {"analyte": row.analyte, "result": row.result, "expected": row.expected}
                for row in sorted(screen.results.all(), key=lambda row: row.analyte)
            ],
        }
        for screen in screens
    ]
    return Released(data)


# The category of each kind of record a flag's evidence may name (the engine names only the
# patient's own records).
_RECORD_CATEGORIES = {
    "care_transition": DisclosureCategory.ENROLLMENT,
    "medication_event": DisclosureCategory.MEDICATION,
    "check_in": DisclosureCategory.CHECK_INS,
    "drug_screen": DisclosureCategory.DRUG_SCREENS,
}


def _evidence_categories(items: Iterable[Any], medication_visits: set[str], appointments: set[str]) -> set[str]:
    """The categories of the sessions in a flag's evidence. An item this patient's records cannot
    account for (an unknown type, an appointment that is not theirs) could be anything."""
    found: set[str] = set()
    for item in items:
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "group_session":
            found.add(DisclosureCategory.ATTENDANCE)
        elif kind in _RECORD_CATEGORIES:
            found.add(_RECORD_CATEGORIES[kind])
        elif kind == "appointment" and str(item.get("id")) in appointments:
            found.add(DisclosureCategory.ATTENDANCE)
            if str(item["id"]) in medication_visits:
                found.add(DisclosureCategory.MEDICATION)
        else:
            return set(_EVERY_CATEGORY)
    return found


def _flag_categories(patient: Patient, flags: list[RiskFlag]) -> dict[Any, set[str]]:
    """Per flag, every category it is drawn from: its rule's, and its evidence's now and in its history."""
    evidence: dict[Any, list[Any]] = {flag.pk: list(flag.evidence or []) for flag in flags}
    for flag_id, items in RiskFlagEvent.objects.filter(flag__patient=patient).values_list("flag_id", "evidence"):
        evidence[flag_id].extend(items or [])
    appointment_ids = {
        str(item.get("id"))
        for items in evidence.values()
        for item in items
        if isinstance(item, dict) and item.get("type") == "appointment"
    }
    kinds = dict(Appointment.objects.filter(patient=patient, pk__in=_uuids(appointment_ids)).values_list("pk", "kind"))
    appointments = {str(pk) for pk in kinds}
    medication_visits = {str(pk) for pk, kind in kinds.items() if kind == ActivityKind.MEDICATION}
    on_medication = PlanActivity.objects.filter(
        plan__patient=patient, kind=ActivityKind.MEDICATION, medication_started_on__isnull=False
    ).exists()
    drawn: dict[Any, set[str]] = {}
    for flag in flags:
        rule = RULES.get(flag.rule)
        categories = set(rule.drawn_from) if rule is not None else set(_EVERY_CATEGORY)
        if rule is not None and rule.reads_medication_starts and on_medication:
            categories.add(DisclosureCategory.MEDICATION)
        categories |= _evidence_categories(evidence[flag.pk], medication_visits, appointments)
        drawn[flag.pk] = categories
    return drawn


def _uuids(values: Iterable[str]) -> list[uuid.UUID]:
    found = []
    for value in values:
        try:
            found.append(uuid.UUID(value))
        except ValueError:
            continue  # not an appointment of anyone's: `_evidence_categories` treats it as unknown
    return found


def risk_flags(patient: Patient, categories: frozenset[str]) -> Released:
    flags = list(RiskFlag.objects.filter(patient=patient).order_by("raised_at", "id"))
    drawn = _flag_categories(patient, flags)
    released = [flag for flag in flags if drawn[flag.pk] <= categories]
    data = [
        {
            "rule": flag.rule,
            "severity": flag.severity,
            "status": flag.status,
            "raised_at": _instant(flag.raised_at),
            "closed_at": _instant(flag.closed_at),
        }
        for flag in released
    ]
    return Released(data, len(flags) - len(released))


def release_providers_register() -> None:
    release_provider_register(DisclosureCategory.ATTENDANCE, attendance)
    release_provider_register(DisclosureCategory.PLAN, plan)
    release_provider_register(DisclosureCategory.MEDICATION, medication)
    release_provider_register(DisclosureCategory.RISK_FLAGS, risk_flags)
    release_provider_register(DisclosureCategory.DRUG_SCREENS, drug_screens)
    release_part_register(DisclosureCategory.ENROLLMENT, "care_transitions", care_transitions)
