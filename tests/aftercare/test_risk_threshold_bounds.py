"""A clinic's risk-rule thresholds stay within the rules' bounds wherever they are written: the
model names the field, the database refuses what is written around it, and the two agree."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from aftercare.models import RiskRuleSetting
from aftercare.risk.rules import RULES
from clinic.models import Clinic
from tests.factories import ClinicFactory

_CHECK = "risk_rule_setting_thresholds_in_bounds"
_INSERT = (
    "INSERT INTO aftercare_riskrulesetting (id, created_at, updated_at, clinic_id, rule, enabled, thresholds)"
    " VALUES (gen_random_uuid(), now(), now(), %s, %s, true, %s::jsonb)"
)


def _database_accepts(clinic: Clinic, rule: str, thresholds: Any) -> bool:
    refused = None
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_INSERT, [clinic.pk, rule, json.dumps(thresholds)])
            transaction.set_rollback(True)
    except IntegrityError as error:
        refused = str(error)
    assert refused is None or _CHECK in refused, refused
    return refused is None


def test_the_database_holds_the_same_bounds_as_the_rules(db: None) -> None:
    """Changing a rule's bounds without a migration that changes the database's fails here."""
    clinic = ClinicFactory.create()
    for code, rule in RULES.items():
        assert _database_accepts(clinic, code, {})
        assert _database_accepts(clinic, code, rule.defaults())
        assert not _database_accepts(clinic, code, {"weeks": 2})
        assert not _database_accepts(clinic, code, [])
        for name, limit in rule.thresholds.items():
            for value, allowed in [
                (limit.minimum, True), (limit.maximum, True), (limit.minimum - 1, False), (limit.maximum + 1, False),
                (2147483647, False), (1.5, False), ("3", False), (True, False), (None, False),
            ]:  # fmt: skip
                thresholds = {name: value}
                _, errors = rule.validate(thresholds)
                expected = allowed and not errors  # an ordered partner at its default may refuse it
                assert _database_accepts(clinic, code, thresholds) is expected, (code, name, value)
        for smaller, larger in rule.ordered:
            low, high = rule.thresholds[smaller], rule.thresholds[larger]
            assert not _database_accepts(clinic, code, {smaller: min(low.maximum, high.maximum), larger: low.minimum})
    assert not _database_accepts(clinic, "no_such_rule", {})


def test_a_setting_out_of_bounds_is_refused_naming_the_thresholds(db: None) -> None:
    setting = RiskRuleSetting(clinic=ClinicFactory.create(), rule="no_contact", thresholds={"high_days": 2147483647})
    with pytest.raises(ValidationError) as refused:
        setting.full_clean()
    assert set(refused.value.message_dict) == {"thresholds"}
    assert "high_days" in refused.value.message_dict["thresholds"][0]
    setting.thresholds = {"medium_days": 365, "high_days": 730}
    setting.full_clean()
    setting.save()


def test_the_migration_brings_settings_written_before_the_bounds_into_them(db: None) -> None:
    migration = importlib.import_module("aftercare.migrations.0008_risk_thresholds_in_bounds")
    with connection.cursor() as cursor:
        # Foreign keys checked as each row is written: no check left pending when the table is altered.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = %s", [_CHECK])
        (definition,) = cursor.fetchone()
        cursor.execute(f"ALTER TABLE aftercare_riskrulesetting DROP CONSTRAINT {_CHECK}")
    clinic = ClinicFactory.create()
    rows = {
        "no_contact": {"medium_days": 30, "high_days": 2147483647},
        "consecutive_missed": {"medium_at": 9, "high_at": 4},  # out of order
        "missed_in_window": {"count": "3", "days": 60, "weeks": 2},
        "group_dropout": {"count": 4},
    }
    for rule, thresholds in rows.items():
        RiskRuleSetting.objects.create(clinic=clinic, rule=rule, thresholds=thresholds)

    migration.bring_thresholds_into_bounds(apps, None)

    with connection.cursor() as cursor:
        cursor.execute(
            f"ALTER TABLE aftercare_riskrulesetting ADD CONSTRAINT risk_rule_setting_thresholds_in_bounds {definition}"
        )
    after = dict(RiskRuleSetting.objects.filter(clinic=clinic).values_list("rule", "thresholds"))
    assert after == {
        "no_contact": {"medium_days": 30},
        "consecutive_missed": {},
        "missed_in_window": {"days": 60},
        "group_dropout": {"count": 4},
    }


@pytest.mark.parametrize("end", ["minimum", "maximum"])
def test_the_sweep_runs_with_every_threshold_at_its_bound(db: None, end: str) -> None:
    from aftercare.risk.engine import risk_sweep
    from tests.aftercare.factories import AppointmentFactory
    from tests.factories import PatientFactory

    clinic = ClinicFactory.create(time_zone="Pacific/Kiritimati")  # the zone furthest from UTC
    for code, rule in RULES.items():
        thresholds = {name: getattr(limit, end) for name, limit in rule.thresholds.items()}
        setting = RiskRuleSetting(clinic=clinic, rule=code, thresholds=thresholds)
        setting.full_clean()
        setting.save()
    patient = PatientFactory.create(clinic=clinic)
    AppointmentFactory.create(clinic=clinic, patient=patient, attendance_status="missed")
    result = risk_sweep()
    assert result.patients == 1
