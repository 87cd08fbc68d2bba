"""A clinic's risk rules (turned on or off, thresholds tuned), and queueing risk evaluation.

Evaluation is queued after the attendance that prompted it is committed, never before
(a worker must see the change, and a rolled-back change must not be evaluated). The request is
written to the outbox in the attendance's own transaction, so a broker outage delays the
evaluation but never loses it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from rest_framework.exceptions import PermissionDenied, ValidationError

from aftercare.models import OutboxKind, RiskRuleSetting
from aftercare.risk.rules import RULES
from aftercare.services.outbox import outbox_enqueue
from clinic.auth.caller import Caller
from clinic.models import Clinic


def risk_evaluate_after_commit(patient_ids: Iterable[Any]) -> None:
    ids = sorted({str(patient_id) for patient_id in patient_ids})
    if ids:
        outbox_enqueue(kind=OutboxKind.RISK_EVALUATE, payload={"patient_ids": ids})


@dataclass(frozen=True)
class RiskRuleChange:
    """What a clinic changes about one rule: `None` leaves that part as it is; `thresholds` may name
    only some of the rule's thresholds (the others keep their current value)."""

    enabled: bool | None = None
    thresholds: Mapping[str, Any] | None = None


@transaction.atomic
def risk_rules_update(
    *, clinic: Clinic, changes: Mapping[str, RiskRuleChange], by: Caller
) -> dict[str, RiskRuleSetting]:
    """Change a clinic's risk rules, all or nothing: every rule's thresholds are checked against
    the bounds of `aftercare.risk.rules` (and the current values of those not given) before any is
    written. A refusal is a ValidationError `{rule: {threshold: [message]}}`. Only a caller holding
    `rules:write` (the admin role, or a client granted it)."""
    if "rules:write" not in by.scopes:
        raise PermissionDenied("This request needs the scope(s): rules:write.")
    unknown = sorted(code for code in changes if code not in RULES)
    if unknown:
        raise ValidationError({code: ["There is no such risk rule."] for code in unknown})
    # Locked before reading the current values, so two admins' changes never interleave.
    current = {
        setting.rule: setting
        for setting in RiskRuleSetting.objects.select_for_update().filter(clinic=clinic, rule__in=list(changes))
    }
    merged: dict[str, dict[str, int]] = {}
    errors: dict[str, dict[str, list[str]]] = {}
    for code, change in changes.items():
        setting = current.get(code)
        values = {**(setting.thresholds if setting is not None else {}), **(change.thresholds or {})}
        merged[code], rule_errors = RULES[code].validate(values)
        if rule_errors:
            errors[code] = {name: [message] for name, message in rule_errors.items()}
    if errors:
        raise ValidationError(errors)
    saved: dict[str, RiskRuleSetting] = {}
    for code, change in changes.items():
        setting = current.get(code) or RiskRuleSetting(clinic=clinic, rule=code)
        if change.enabled is not None:
            setting.enabled = change.enabled
        setting.thresholds = merged[code]
        setting.updated_by = by.user
        setting.full_clean()
        setting.save()
        saved[code] = setting
    return saved


def risk_rule_update(
    *,
    clinic: Clinic,
    rule: str,
    enabled: bool | None = None,
    thresholds: Mapping[str, Any] | None = None,
    by: Caller,
) -> RiskRuleSetting:
    """Change one rule (as the API's `PATCH risk-rules/{code}/` does); a refusal names each bad
    threshold under `thresholds`."""
    try:
        saved = risk_rules_update(
            clinic=clinic, changes={rule: RiskRuleChange(enabled=enabled, thresholds=thresholds)}, by=by
        )
    except ValidationError as exc:
        detail = exc.detail
        if isinstance(detail, dict) and rule in detail and rule in RULES:
            raise ValidationError({"thresholds": detail[rule]}) from None
        raise
    return saved[rule]


def risk_rule_settings(*, clinic: Clinic) -> dict[str, RiskRuleSetting]:
    """The clinic's own settings, by rule code (a rule without one runs with its defaults)."""
    return {setting.rule: setting for setting in RiskRuleSetting.objects.filter(clinic=clinic)}
