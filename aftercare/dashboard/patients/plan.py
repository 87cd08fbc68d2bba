"""`/patients/<id>/plan/`: the aftercare plan as a form (read-only for roles that may not write)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from aftercare.dashboard.pages import record, show, staff_page
from aftercare.dashboard.patients.common import patient_of, refuse, service_errors
from aftercare.dashboard.patients.plan_forms import (
    ActivityFormSet,
    ContactFormSet,
    PlanForm,
    activity_initial,
    contacts_of,
    kept_activities,
)
from aftercare.models import AftercarePlan
from aftercare.selectors.patients import plan_current
from aftercare.services.plans import plan_create, plan_transition, plan_update
from clinic.auth.caller import Caller
from clinic.models import AccessAction, Patient

OBJECT_TYPE = "dashboard.plan"
WRITE = frozenset({"plans:write"})


def _forms(data: Any, plan: AftercarePlan | None) -> tuple[PlanForm, Any, Any, Any]:
    emergency = (plan.emergency_plan or {}) if plan else {}
    return (
        PlanForm(data, plan=plan),
        ActivityFormSet(
            data, prefix="activities", initial=[activity_initial(a) for a in plan.activities.all()] if plan else None
        ),
        ContactFormSet(data, prefix="emergency", initial=emergency.get("contacts") or None),
        ContactFormSet(data, prefix="support", initial=(plan.support_persons or None) if plan else None),
    )


def _save(
    caller: Caller,
    patient: Patient,
    plan: AftercarePlan | None,
    form: PlanForm,
    activities: Any,
    emergency: Any,
    support: Any,
) -> AftercarePlan:
    """One transaction: the plan, its activities and its status change are saved together or not at all."""
    kept = kept_activities(activities)
    fields = {
        **form.plan_fields(),
        "emergency_plan": {
            "contacts": contacts_of(emergency),
            "where_to_go": form.cleaned_data["where_to_go"],
            "what_to_do": form.cleaned_data["what_to_do"],
        },
        "support_persons": contacts_of(support),
    }
    items = [row.service_item() for row in kept]
    status = form.cleaned_data["status"]
    try:
        with transaction.atomic():
            if plan is None:
                return plan_create(patient=patient, by=caller, activities=items, status=status, **fields)
            plan = plan_update(plan=plan, activities=items, **fields)
            if status != plan.status:
                plan = plan_transition(plan=plan, to=status)
            return plan
    except ValidationError as exc:
        _activity_errors(exc, kept)
        raise


def _activity_errors(exc: ValidationError, kept: list[Any]) -> None:
    """Errors the service names `activities.<n>.<field>` go next to that row's field."""
    if not hasattr(exc, "error_dict"):
        return
    for key in [key for key in exc.error_dict if key.startswith("activities.")]:
        _, index, field = [*key.split("."), "", ""][:3]
        if index.isdigit() and int(index) < len(kept):
            row = kept[int(index)]
            for message in exc.error_dict.pop(key):
                row.add_error(field if field in row.fields else None, message)


@staff_page(scopes=["patients:read", "plans:read"], object_type=OBJECT_TYPE)
def plan_page(request: HttpRequest, caller: Caller, patient_id: uuid.UUID) -> HttpResponse:
    patient = patient_of(caller, patient_id)
    can_write = caller.has_scopes(WRITE)
    if request.method == "POST" and not can_write:
        return refuse(request, object_type=OBJECT_TYPE, patient=patient)
    plan = plan_current(patient=patient)
    form, activities, emergency, support = _forms(request.POST if request.method == "POST" else None, plan)
    if request.method == "POST" and all(f.is_valid() for f in (form, activities, emergency, support)):
        try:
            saved = _save(caller, patient, plan, form, activities, emergency, support)
        except ValidationError as exc:
            service_errors(form, exc)
        else:
            record(
                request,
                action=AccessAction.CREATE if plan is None else AccessAction.UPDATE,
                object_type=OBJECT_TYPE,
                object_ids=[saved.pk],
                patient_ids=[patient.pk],
            )
            messages.success(request, "The plan is saved.")
            return redirect("dashboard:patient_plan", patient_id=patient.pk)
    context = {
        "patient": patient,
        "plan": plan,
        "can_write": can_write,
        "form": form,
        "activities": activities,
        "emergency": emergency,
        "support": support,
    }
    return show(
        request,
        "dashboard/patients/plan.html",
        context,
        object_type=OBJECT_TYPE,
        object_ids=[plan.pk if plan else patient.pk],
        patient_ids=[patient.pk],
    )
