"""The risk rules, each one object (aftercare/risk/rules/base.py says what a rule holds), in the
order the engine evaluates them and staff see them. Adding a rule: a class in the module of its
kind, an instance here, its code in `aftercare.models.RiskRule` (a migration, since the database
checks the codes and the thresholds' bounds), and its tests."""

from __future__ import annotations

from aftercare.risk.rules.attendance import (
    ConsecutiveMissed,
    EarlyMissed,
    GroupDropout,
    MedicationVisitsMissed,
    MissedInWindow,
    NoContact,
)
from aftercare.risk.rules.base import Rule, Stage, Threshold
from aftercare.risk.rules.transitions import PostDischargeGap

RULES: dict[str, Rule] = {
    rule.code: rule
    for rule in (
        ConsecutiveMissed(),
        MissedInWindow(),
        EarlyMissed(),
        MedicationVisitsMissed(),
        NoContact(),
        PostDischargeGap(),
        GroupDropout(),
    )
}

__all__ = ["RULES", "Rule", "Stage", "Threshold"]
