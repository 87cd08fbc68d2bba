"""The clinic's settings, for its admins: the reminder policy and the risk rules' thresholds. Two
forms, each saved on its own, all or nothing, through the services the API uses."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib import messages
from django.core.exceptions import ValidationError as ModelValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from rest_framework.exceptions import ValidationError as ServiceValidationError

from aftercare.dashboard.audit.forms import ReminderPolicyForm, RiskThresholdsForm, threshold_field_name
from aftercare.dashboard.pages import form_errors_from_service, name_of, staff_page
from aftercare.models import RiskRule
from aftercare.services.risk import risk_rule_settings, risk_rules_update
from clinic.auth.caller import Caller
from clinic.models import IntegrationClient, Role, User
from clinic.services.clinics import clinic_policy_update

HISTORY_ROWS = 10
RULE_LABELS = dict(RiskRule.choices)


def _policy_errors(form: ReminderPolicyForm, exc: ModelValidationError) -> None:
    """The model's refusal onto the form, under the field it names (the offsets have their own
    box name on the form)."""
    renamed = {"reminder_offsets_minutes": "reminder_offsets", "missed_session_grace_minutes": "missed_session_grace"}
    for field, errors in exc.message_dict.items():
        name = renamed.get(field, field)
        for error in errors:
            form.add_error(name if name in form.fields else None, error)


def _risk_errors(form: RiskThresholdsForm, exc: ServiceValidationError) -> None:
    detail = exc.detail
    if not isinstance(detail, dict):
        form_errors_from_service(form, exc)
        return
    for rule, errors in detail.items():
        items = errors.items() if isinstance(errors, dict) else [(None, errors)]
        for name, messages_ in items:
            field = threshold_field_name(str(rule), str(name)) if name else None
            for text in messages_ if isinstance(messages_, list) else [messages_]:
                form.add_error(field if field in form.fields else None, str(text))


def _ids(keys: set[str], prefix: str) -> list[str]:
    return [key.removeprefix(prefix) for key in keys if key.startswith(prefix)]


def _history(caller: Caller) -> list[dict[str, Any]]:
    """The last changes to the clinic's policy and its risk rules, newest first, with who made
    them (four queries at most)."""
    rows: list[dict[str, Any]] = []
    for model, what in (
        ("clinic.ClinicHistory", "Clinic and reminder policy"),
        ("aftercare.RiskRuleSettingHistory", None),
    ):
        history = apps.get_model(model).objects.select_related("pgh_context")
        history = history.filter(pgh_obj_id=caller.clinic.pk) if what else history.filter(clinic_id=caller.clinic.pk)
        for row in history.order_by("-pgh_created_at", "-pgh_id")[:HISTORY_ROWS]:
            context = row.pgh_context.metadata if row.pgh_context is not None else {}
            rows.append(
                {
                    "at": row.pgh_created_at,
                    "what": what or f"Risk rule: {RULE_LABELS.get(row.rule, row.rule)}",
                    "actor": context.get("actor", ""),
                }
            )
    rows.sort(key=lambda row: row["at"], reverse=True)
    rows = rows[:HISTORY_ROWS]
    keys = {row["actor"] for row in rows}
    users = {f"user:{user.pk}": name_of(user) for user in User.objects.filter(pk__in=_ids(keys, "user:"))}
    clients = {
        f"client:{client.pk}": f"{client.name} (integration client)"
        for client in IntegrationClient.objects.filter(pk__in=_ids(keys, "client:"))
    }
    for row in rows:
        row["who"] = users.get(row["actor"]) or clients.get(row["actor"]) or ""
    return rows


@staff_page(roles=[Role.ADMIN], object_type="dashboard.clinic_settings", shows_patients=False)
def clinic_settings(request: HttpRequest, caller: Caller) -> HttpResponse:
    clinic = caller.clinic
    settings = risk_rule_settings(clinic=clinic)
    policy = ReminderPolicyForm(initial=ReminderPolicyForm.initial_for(clinic), prefix="policy")
    risk = RiskThresholdsForm(settings=settings, prefix="risk")
    if request.method == "POST":
        which = request.POST.get("form")
        if which == "policy":
            policy = ReminderPolicyForm(request.POST, prefix="policy")
            if policy.is_valid():
                data = policy.cleaned_data
                try:
                    clinic_policy_update(
                        clinic=clinic,
                        by=caller,
                        display_name=data["display_name"],
                        phone=data["phone"],
                        reminder_sender_name=data["reminder_sender_name"],
                        reminder_offsets_minutes=data["reminder_offsets"],
                        quiet_hours_start=data["quiet_hours_start"],
                        quiet_hours_end=data["quiet_hours_end"],
                        missed_session_message=data["missed_session_message"],
                        missed_session_grace_minutes=data["missed_session_grace"],
                    )
                except ModelValidationError as exc:
                    _policy_errors(policy, exc)
                else:
                    messages.success(request, "The reminder policy is saved.")
                    return redirect("dashboard:clinic_settings")
        elif which == "risk":
            risk = RiskThresholdsForm(request.POST, settings=settings, prefix="risk")
            if risk.is_valid():
                try:
                    risk_rules_update(clinic=clinic, changes=risk.changes(), by=caller)
                except ServiceValidationError as exc:
                    _risk_errors(risk, exc)
                else:
                    messages.success(request, "The risk rules are saved.")
                    return redirect("dashboard:clinic_settings")
    # A refused form comes back with its errors as a 200, the way browsers show a page without
    # reporting a failed load.
    context = {"policy": policy, "risk": risk, "history": _history(caller)}
    return render(request, "dashboard/audit/clinic_settings.html", context)
