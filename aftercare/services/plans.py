"""Writes to aftercare plans: creation, edits of the structured parts, and the status lifecycle."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from aftercare.models import AftercarePlan, PlanActivity, PlanStatus
from clinic.auth.caller import Caller
from clinic.errors import Conflict
from clinic.models import Patient

PLAN_FIELDS = (
    "start_date",
    "end_date",
    "goals",
    "warning_signs",
    "triggers",
    "coping_strategies",
    "daily_routine",
    "emergency_plan",
    "support_persons",
    "sponsor",
    "checkin_every_days",
)
ACTIVITY_FIELDS = (
    "kind",
    "frequency_count",
    "frequency_period",
    "provider",
    "medication",
    "dose_schedule",
    "medication_started_on",
    "support_group_kind",
    "wellness_kind",
    "notes",
)

# Which status may follow which. Completed and discontinued plans are history.
TRANSITIONS: dict[str, frozenset[str]] = {
    PlanStatus.DRAFT: frozenset({PlanStatus.ACTIVE, PlanStatus.DISCONTINUED}),
    PlanStatus.ACTIVE: frozenset({PlanStatus.COMPLETED, PlanStatus.DISCONTINUED}),
    PlanStatus.COMPLETED: frozenset(),
    PlanStatus.DISCONTINUED: frozenset(),
}
_SECOND_ACTIVE = "This patient already has an active plan: complete or discontinue it first."


def _save(plan: AftercarePlan, **save_kwargs: Any) -> None:
    plan.full_clean(exclude=["clinic", "patient", "created_by"], validate_constraints=False)
    try:
        with transaction.atomic():
            plan.save(**save_kwargs)
    except IntegrityError as exc:
        if "plan_one_active_per_patient" in str(exc):
            raise Conflict({"status": _SECOND_ACTIVE}) from None
        raise


def _validate_activity(activity: PlanActivity, index: int) -> None:
    errors: dict[str, str] = {}
    if activity.kind == "medication" and not activity.medication:
        errors["medication"] = "Name the medication of a medication-assisted treatment activity."
    if activity.kind != "medication" and (activity.medication or activity.medication_started_on):
        errors["medication"] = "Only a medication activity names a medication."
    if activity.kind == "support_group" and not activity.support_group_kind:
        errors["support_group_kind"] = "Say which kind of support group (12-step, SMART, peer, facility)."
    if activity.kind == "wellness" and not activity.wellness_kind:
        errors["wellness_kind"] = "Say which wellness activity."
    if errors:
        raise ValidationError({f"activities.{index}.{field}": message for field, message in errors.items()})


def _replace_activities(plan: AftercarePlan, activities: list[dict[str, Any]]) -> None:
    """The plan's activities become `activities`: items with an `id` update that activity,
    items without one are added, and activities left out are removed (unless booked against)."""
    existing = {activity.pk: activity for activity in plan.activities.select_for_update()}
    keep: set[Any] = set()
    for index, item in enumerate(activities):
        activity_id = item.get("id")
        if activity_id is not None:
            if activity_id not in existing:
                raise ValidationError({f"activities.{index}.id": "No such activity in this plan."})
            activity = existing[activity_id]
            keep.add(activity_id)
        else:
            activity = PlanActivity(plan=plan)
        for field in ACTIVITY_FIELDS:
            if field in item:
                setattr(activity, field, item[field])
        activity.position = index
        _validate_activity(activity, index)
        activity.full_clean(exclude=["plan"])
        activity.save()
    for activity_id, activity in existing.items():
        if activity_id in keep:
            continue
        try:
            with transaction.atomic():
                activity.delete()
        except ProtectedError:
            raise ValidationError(
                {"activities": f"Activity {activity_id} has appointments booked against it and cannot be removed."}
            ) from None


@transaction.atomic
def plan_create(
    *, patient: Patient, by: Caller, activities: list[dict[str, Any]] | None = None, **fields: Any
) -> AftercarePlan:
    unknown = set(fields) - set(PLAN_FIELDS) - {"status"}
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "This field cannot be set."))
    status = fields.pop("status", PlanStatus.DRAFT)
    if status not in (PlanStatus.DRAFT, PlanStatus.ACTIVE):
        raise ValidationError({"status": "A new plan starts as 'draft' or 'active'."})
    plan = AftercarePlan(clinic=patient.clinic, patient=patient, created_by=by.user, status=status, **fields)
    if status == PlanStatus.ACTIVE and plan.start_date is None:
        plan.start_date = timezone.localdate(timezone=patient.clinic.zone)
    _save(plan, force_insert=True)
    _replace_activities(plan, activities or [])
    return plan


@transaction.atomic
def plan_update(*, plan: AftercarePlan, activities: list[dict[str, Any]] | None = None, **fields: Any) -> AftercarePlan:
    unknown = set(fields) - set(PLAN_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "This field cannot be set."))
    locked = AftercarePlan.objects.select_for_update().get(pk=plan.pk)
    if locked.status in (PlanStatus.COMPLETED, PlanStatus.DISCONTINUED):
        raise Conflict({"status": f"This plan is {locked.status}: it is kept as it was and cannot be edited."})
    for name, value in fields.items():
        setattr(locked, name, value)
    _save(locked)
    if activities is not None:
        _replace_activities(locked, activities)
    return locked


@transaction.atomic
def plan_transition(*, plan: AftercarePlan, to: str, on: datetime.date | None = None) -> AftercarePlan:
    """Move a plan along its lifecycle; `on` is the start (activation) or end date."""
    locked = AftercarePlan.objects.select_for_update().get(pk=plan.pk)
    if to not in TRANSITIONS[locked.status]:
        raise Conflict({"status": f"This plan is {locked.status}: it cannot become {to}."})
    today = timezone.localdate(timezone=locked.clinic.zone)
    locked.status = to
    if to == PlanStatus.ACTIVE:
        locked.start_date = on or locked.start_date or today
    else:
        locked.end_date = on or today
        if locked.start_date and locked.end_date < locked.start_date:
            raise ValidationError({"end_date": "Must not be before the plan's start_date."})
    _save(locked, update_fields=["status", "start_date", "end_date", "updated_at"])
    return locked
