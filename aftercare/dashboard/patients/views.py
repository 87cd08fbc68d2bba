"""The patient page: who they are, how they have been coming, what is next, what changed."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse

from aftercare.dashboard.pages import show, staff_page
from aftercare.dashboard.patients.common import patient_of, sees_clinical_detail
from aftercare.dashboard.patients.records import record_sections
from aftercare.risk.wording import flag_reason
from aftercare.selectors.checkins import checkin_next, checkin_trend
from aftercare.selectors.outreach import outreach_for
from aftercare.selectors.patients import (
    attendance_grid,
    patient_changes,
    patient_flags,
    plan_current,
    plan_medications,
    upcoming_sessions,
)
from clinic.auth.caller import Caller

# The history shows every clinical record of the patient and their consents (as the API's).
HISTORY_SCOPES = frozenset(
    {
        "patients:read",
        "plans:read",
        "schedule:read",
        "flags:read",
        "consents:read",
        "transitions:read",
        "medication:read",
        "screens:read",
    }
)


@staff_page(scopes=["patients:read"], object_type="dashboard.patient")
def patient_page(request: HttpRequest, caller: Caller, patient_id: uuid.UUID) -> HttpResponse:
    patient = patient_of(caller, patient_id)
    clinical = sees_clinical_detail(caller)
    context: dict[str, Any] = {
        "patient": patient,
        "clinical": clinical,
        "upcoming": upcoming_sessions(patient=patient),
        "can_book": caller.has_scopes(frozenset({"schedule:write"})),
        "can_record_meeting": caller.has_scopes(frozenset({"attendance:write"})),
        "can_audit": caller.has_scopes(frozenset({"audit:read"})),
    }
    if clinical:
        plan = plan_current(patient=patient)
        open_flags, closed_flags = patient_flags(patient=patient)
        context.update(
            plan=plan,
            medications=plan_medications(plan),
            grid=attendance_grid(patient=patient, clinic=caller.clinic),
            open_flags=[(flag, flag_reason(flag.rule, flag.evidence)) for flag in open_flags],
            closed_flags=[(flag, flag_reason(flag.rule, flag.evidence)) for flag in closed_flags],
            can_edit_plan=caller.has_scopes(frozenset({"plans:write"})),
            can_log_outreach=caller.has_scopes(frozenset({"outreach:write"})),
        )
        if caller.has_scopes(frozenset({"checkins:read"})):
            context["show_checkins"] = True
            context["checkin_trend"] = checkin_trend(patient=patient)
            context["checkin_next"] = checkin_next(patient=patient, plan=plan)
        if caller.has_scopes(frozenset({"outreach:read"})):
            context["show_outreach"] = True
            context["attempts"] = list(outreach_for(clinic=caller.clinic, patient_id=patient.pk))
        context["record_sections"] = record_sections(caller, patient)
        if caller.has_scopes(HISTORY_SCOPES):
            context["show_history"] = True
            context["history"] = patient_changes(patient=patient, clinic=caller.clinic)
    return show(
        request,
        "dashboard/patients/patient.html",
        context,
        object_type="dashboard.patient",
        object_ids=[patient.pk],
        patient_ids=[patient.pk],
    )
