"""Medication-assisted treatment, read from dosing events rather than booked visits: methadone is
dosed daily at the programme, buprenorphine is supplied for days or weeks, extended-release
naltrexone is a monthly injection, so "missed" means a different gap for each.

A rule here watches a patient only while their active plan lists the medication and the clinic
records their dosing (an event within `watch_days`): a clinic that books medication visits without
recording doses is read by `consecutive_missed`'s medication stream instead.
"""

# ruff: noqa: S608  (SQL from this project's constants; values are parameters)

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import Sequence
from typing import Any, ClassVar

from aftercare.models import Medication, RiskRule
from aftercare.models.records import TAKE_HOME_MAX_DAYS, MedicationEventKind
from aftercare.risk.rules.base import Rule, Stage, Threshold, instant, local_day
from aftercare.risk.sql import local_midnight
from clinic.models import DisclosureCategory

_DRAWN_FROM = frozenset({DisclosureCategory.MEDICATION, DisclosureCategory.PLAN})
_TIP_63 = "SAMHSA TIP 63, Medications for Opioid Use Disorder, 2021"


def _item(alias: str) -> str:
    """A medication event as evidence: its day (as the instant it began, clinic time) and kind."""
    return (
        f"jsonb_build_object('type', 'medication_event', 'id', {alias}.id, "
        f"'starts_at', {local_midnight(f'{alias}.occurred_on')}, 'status', {alias}.kind)"
    )


def _covered(alias: str) -> str:
    """The last day an event covers: its own day, a take-home supply's last day, none for a miss."""
    return (
        f"CASE {alias}.kind WHEN '{MedicationEventKind.TAKE_HOME_DISPENSED}' "
        f"THEN {alias}.occurred_on + {alias}.days_covered - 1 "
        f"WHEN '{MedicationEventKind.DOSE_MISSED}' THEN NULL ELSE {alias}.occurred_on END"
    )


def _ctes(watch_days: list[str]) -> dict[str, str]:
    """Per patient and medication of their active plan: the last day a dose or supply covered,
    the last injection and the last event. One hashed pass over the recent events of the patients
    in scope (the evidence is read afterwards, for the rows that fire)."""
    covered = _covered("e")
    return {
        "on_medication": """
    SELECT DISTINCT pl.patient_id, act.medication
    FROM aftercare_aftercareplan pl
    JOIN aftercare_planactivity act ON act.plan_id = pl.id AND act.kind = 'medication' AND act.medication <> ''
    WHERE pl.status = 'active' {plans}""",
        "medication_days": f"""
    SELECT e.patient_id, e.medication, max({covered}) AS covered_until,
           max(e.occurred_on) FILTER (WHERE e.kind = '{MedicationEventKind.INJECTION_GIVEN}') AS injected_on,
           max(e.occurred_on) AS last_event_on
    FROM aftercare_medicationevent e
    JOIN p ON p.patient_id = e.patient_id
    JOIN on_medication m ON m.patient_id = e.patient_id AND m.medication = e.medication
    -- Only what can matter: the last event must fall within a rule's watch, and a supply covers at
    -- most TAKE_HOME_MAX_DAYS (a rule switched off watches nothing: NULL).
    WHERE NOT e.entered_in_error AND e.occurred_on <= p.today
      AND e.occurred_on > p.today - greatest({", ".join(watch_days)}) - {TAKE_HOME_MAX_DAYS}
    GROUP BY e.patient_id, e.medication""",
    }


class MedicationRule(Rule):
    """One medication's rule: its row of `medication_days`, joined on as `<code>_days`."""

    medication: ClassVar[str]
    stage = Stage.EMOTIONAL
    drawn_from = _DRAWN_FROM
    reads_medication_starts = False

    def ctes(self) -> dict[str, str]:
        # The events any medication rule can still read: within the longest of their watches.
        return _ctes([rule().cfg("watch_days") for rule in MedicationRule.__subclasses__()])

    def joins(self) -> list[str]:
        return [
            f"LEFT JOIN medication_days {self.code}_days ON {self.code}_days.patient_id = p.patient_id "
            f"AND {self.code}_days.medication = '{self.medication}'"
        ]

    def watched(self) -> str:
        return f"p.{self.code}_last IS NOT NULL AND p.today - p.{self.code}_last <= {self.cfg('watch_days')}"

    def columns(self) -> dict[str, str]:
        days = f"{self.code}_days"
        return {
            f"{self.code}_last": f"{days}.last_event_on",
            f"{self.code}_covered": f"{days}.covered_until",
            f"{self.code}_injected": f"{days}.injected_on",
        }

    def evidence(self) -> str:
        # The event that last covered a day (the first by id of any that cover the same day), then
        # every dose marked missed after it.
        mine = f"e.patient_id = p.patient_id AND e.medication = '{self.medication}' AND NOT e.entered_in_error"
        return f"""(
        SELECT jsonb_agg({_item("e")} ORDER BY e.occurred_on, e.id)
        FROM (
            (SELECT e.* FROM aftercare_medicationevent e
             WHERE {mine} AND {_covered("e")} = p.{self.code}_covered AND e.occurred_on <= p.today
             ORDER BY e.id LIMIT 1)
            UNION ALL
            SELECT e.* FROM aftercare_medicationevent e
            WHERE {mine} AND e.kind = '{MedicationEventKind.DOSE_MISSED}'
              AND e.occurred_on > p.{self.code}_covered AND e.occurred_on <= p.today
        ) AS e)"""

    def reason(self, evidence: Sequence[dict[str, Any]], zone: zoneinfo.ZoneInfo | None = None) -> str:
        name = str(Medication(self.medication).label)
        covering = [i for i in evidence if i.get("status") != MedicationEventKind.DOSE_MISSED]
        missed = [instant(i.get("starts_at")) for i in evidence if i.get("status") == MedicationEventKind.DOSE_MISSED]
        last = instant(covering[-1].get("starts_at")) if covering else None
        words = [f"{name}: last dose or supply {_day(last, zone)}" if last else f"{name}: no dose on record"]
        if missed:
            words.append(f"missed doses recorded {', '.join(_day(m, zone) for m in missed if m)}")
        return "; ".join(words)


def _day(moment: datetime.datetime | None, zone: zoneinfo.ZoneInfo | None) -> str:
    # An event's instant is the start of its day in the clinic's zone: read it as that day.
    return local_day(moment, zone) if moment else "?"


class MethadoneMissedDoses(MedicationRule):
    """Methadone is dosed daily: every day since the last dose (or take-home supply) ran out, up to
    yesterday, is a missed dose."""

    code = RiskRule.MEDICATION_MISSED
    medication = Medication.METHADONE
    summary = (
        "Methadone doses missed in a row: the days since the last observed dose or take-home supply ran out, "
        "up to yesterday."
    )
    severity = "medium from `medium_at` missed doses (review); high from `high_at` (re-induction)"
    basis = (
        "Missed-dose guidance for opioid treatment programmes: 3 missed doses call for review before the next "
        f"dose, 5 or more for re-induction at a lower dose (lost tolerance) ({_TIP_63})."
    )
    thresholds = {
        "medium_at": Threshold(3, 1, 30, "Missed doses in a row for a medium flag (review before dosing)."),
        "high_at": Threshold(5, 1, 30, "Missed doses in a row for a high flag (re-induction)."),
        "watch_days": Threshold(30, 1, 365, "Days after the last dosing event the patient is still watched."),
    }
    ordered = (("medium_at", "high_at"),)
    lapsed_note = "A dose was given or supplied since (or dosing is no longer recorded)."

    def decides(self) -> str:
        missed = f"(p.today - 1 - p.{self.code}_covered)"
        return (
            f"CASE WHEN NOT ({self.watched()}) OR p.{self.code}_covered IS NULL THEN NULL "
            f"WHEN {missed} >= {self.cfg('high_at')} THEN 'high' "
            f"WHEN {missed} >= {self.cfg('medium_at')} THEN 'medium' END"
        )


class BuprenorphineWithoutSupply(MedicationRule):
    code = RiskRule.BUPRENORPHINE_GAP
    medication = Medication.BUPRENORPHINE
    summary = "Days without buprenorphine: since the last dose or the end of the last supply, up to yesterday."
    severity = "medium from `medium_days` days without supply; high from `high_days`"
    basis = (
        "Gaps in buprenorphine coverage predict discontinuation and overdose; continuity of supply is the "
        f"measure of retention ({_TIP_63}; Williams et al. 2020, American Journal of Psychiatry 177:117-124)."
    )
    thresholds = {
        "medium_days": Threshold(3, 1, 60, "Days without supply for a medium flag."),
        "high_days": Threshold(7, 1, 90, "Days without supply for a high flag."),
        "watch_days": Threshold(60, 1, 365, "Days after the last dosing event the patient is still watched."),
    }
    ordered = (("medium_days", "high_days"),)
    lapsed_note = "Buprenorphine was given or supplied since (or dosing is no longer recorded)."

    def decides(self) -> str:
        without = f"(p.today - 1 - p.{self.code}_covered)"
        return (
            f"CASE WHEN NOT ({self.watched()}) OR p.{self.code}_covered IS NULL THEN NULL "
            f"WHEN {without} >= {self.cfg('high_days')} THEN 'high' "
            f"WHEN {without} >= {self.cfg('medium_days')} THEN 'medium' END"
        )


class NaltrexoneInjectionOverdue(MedicationRule):
    code = RiskRule.NALTREXONE_OVERDUE
    medication = Medication.NALTREXONE
    summary = (
        "An extended-release naltrexone injection overdue: more than `interval_days` + `grace_days` since the last."
    )
    severity = "high"
    basis = (
        "Extended-release naltrexone is given every 4 weeks; once it wears off, opioid tolerance is low and "
        "overdose risk high (Vivitrol prescribing information; Lee et al. 2018, Lancet 391:309-318)."
    )
    thresholds = {
        "interval_days": Threshold(28, 7, 60, "Days between injections."),
        "grace_days": Threshold(7, 0, 30, "Days overdue before the flag."),
        "watch_days": Threshold(120, 30, 365, "Days after the last injection the patient is still watched."),
    }
    lapsed_note = "An injection was given since (or injections are no longer recorded)."

    def decides(self) -> str:
        overdue = f"p.{self.code}_injected + {self.cfg('interval_days')} + {self.cfg('grace_days')}"
        return (
            f"CASE WHEN p.{self.code}_injected IS NULL "
            f"OR p.today - p.{self.code}_injected > {self.cfg('watch_days')} THEN NULL "
            f"WHEN p.today > {overdue} THEN 'high' END"
        )

    def evidence(self) -> str:
        return f"""(
        SELECT jsonb_agg({_item("e")})
        FROM aftercare_medicationevent e
        WHERE e.patient_id = p.patient_id AND e.medication = '{self.medication}' AND NOT e.entered_in_error
          AND e.kind = '{MedicationEventKind.INJECTION_GIVEN}' AND e.occurred_on = p.{self.code}_injected)"""

    def reason(self, evidence: Sequence[dict[str, Any]], zone: zoneinfo.ZoneInfo | None = None) -> str:
        last = instant(evidence[-1].get("starts_at")) if evidence else None
        return f"Naltrexone injection overdue: last given {_day(last, zone)}"
