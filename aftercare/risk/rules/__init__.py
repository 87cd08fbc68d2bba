"""The risk rules, each one object (aftercare/risk/rules/base.py says what a rule holds), in the
order the engine evaluates them and staff see them. Adding a rule: a class in the module of its
kind, an instance here, its code in `aftercare.models.RiskRule` and its thresholds' bounds in a
migration (the database checks both), and its tests."""

from __future__ import annotations

from aftercare.risk.rules.attendance import ConsecutiveMissed, EarlyMissed, GroupDropout, MissedInWindow, NoContact
from aftercare.risk.rules.base import Rule, Stage, Threshold
from aftercare.risk.rules.checkins import CheckInCallRequest, CheckInCraving, CheckInSilent, CheckInUse
from aftercare.risk.rules.medication import (
    BuprenorphineWithoutSupply,
    MethadoneMissedDoses,
    NaltrexoneInjectionOverdue,
)
from aftercare.risk.rules.screens import MedicationNegativeScreen, UnexpectedPositiveScreen
from aftercare.risk.rules.transitions import PostDischargeGap

RULES: dict[str, Rule] = {
    rule.code: rule
    for rule in (
        ConsecutiveMissed(),
        MissedInWindow(),
        EarlyMissed(),
        MethadoneMissedDoses(),
        BuprenorphineWithoutSupply(),
        NaltrexoneInjectionOverdue(),
        NoContact(),
        PostDischargeGap(),
        GroupDropout(),
        CheckInUse(),
        CheckInCraving(),
        CheckInCallRequest(),
        CheckInSilent(),
        UnexpectedPositiveScreen(),
        MedicationNegativeScreen(),
    )
}

__all__ = ["RULES", "Rule", "Stage", "Threshold"]
