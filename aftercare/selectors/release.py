"""The aftercare records a disclosure may release (`clinic.releases`), one provider per category.

Only what the category names: no free-text notes, no ids of other records, no staff identities.
Medication-assisted treatment is its own category, so a release of attendance or of the plan
leaves medication visits and MAT activities out unless `medication` is released too.
"""

from __future__ import annotations

import datetime
from typing import Any

from aftercare.models import (
    ActivityKind,
    AftercarePlan,
    Appointment,
    GroupAttendance,
    OutsideMeeting,
    PlanActivity,
    PlanStatus,
    RiskFlag,
)
from clinic.models import DisclosureCategory, Patient
from clinic.releases import release_provider_register


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


def attendance(patient: Patient, categories: frozenset[str]) -> dict[str, Any]:
    appointments = Appointment.objects.filter(patient=patient).order_by("starts_at", "id")
    if DisclosureCategory.MEDICATION not in categories:
        appointments = appointments.exclude(kind=ActivityKind.MEDICATION)
    sessions = (
        GroupAttendance.objects.filter(patient=patient)
        .select_related("session__group")
        .order_by("session__starts_at", "id")
    )
    meetings = OutsideMeeting.objects.filter(patient=patient).order_by("date", "created_at")
    return {
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


def plan(patient: Patient, categories: frozenset[str]) -> dict[str, Any] | None:
    current = _current_plan(patient)
    if current is None:
        return None
    return {
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


def medication(patient: Patient, categories: frozenset[str]) -> list[dict[str, Any]]:
    return [
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


def risk_flags(patient: Patient, categories: frozenset[str]) -> list[dict[str, Any]]:
    flags = RiskFlag.objects.filter(patient=patient).order_by("raised_at", "id")
    return [
        {
            "rule": flag.rule,
            "severity": flag.severity,
            "status": flag.status,
            "raised_at": _instant(flag.raised_at),
            "closed_at": _instant(flag.closed_at),
        }
        for flag in flags
    ]


def release_providers_register() -> None:
    release_provider_register(DisclosureCategory.ATTENDANCE, attendance)
    release_provider_register(DisclosureCategory.PLAN, plan)
    release_provider_register(DisclosureCategory.MEDICATION, medication)
    release_provider_register(DisclosureCategory.RISK_FLAGS, risk_flags)
