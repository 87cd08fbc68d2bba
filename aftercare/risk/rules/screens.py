"""Drug screens: a result the patient's treatment does not explain. An unexpected positive is the
physical stage of relapse; a screen negative for the medication the patient is on says the
medication is not being taken (or is being passed on), a concern about treatment itself.

Whether a result is expected was settled when the screen was recorded (aftercare/services/records
works it out from the active plan's medication, or the caller stated it), so the rules read
`expected` as stored. A screen entered in error is never read.
"""

# ruff: noqa: S608  (SQL from this project's constants; values are parameters)

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from typing import Any, ClassVar

from aftercare.models import RiskRule
from aftercare.models.records import Analyte, ScreenResult
from aftercare.risk.rules.base import Rule, Stage, Threshold, instant, local_day
from aftercare.risk.sql import local_midnight
from clinic.models import DisclosureCategory

_MAT_ANALYTES = f"('{Analyte.METHADONE}', '{Analyte.BUPRENORPHINE}')"


class ScreenRule(Rule):
    """Screens collected within `days` with at least one result matching `matches` (SQL over `r`)."""

    matches: ClassVar[str]
    phrase: ClassVar[str]  # what the sentence calls such a screen
    drawn_from = frozenset({DisclosureCategory.DRUG_SCREENS})

    def ctes(self) -> dict[str, str]:
        return {
            f"{self.code}_screens": f"""
    SELECT d.patient_id, count(DISTINCT d.id) AS n,
           jsonb_agg(jsonb_build_object('type', 'drug_screen', 'id', d.id,
                                        'starts_at', {local_midnight("d.collected_on")}, 'status', r.result,
                                        'detail', jsonb_build_object('analyte', r.analyte))
                     ORDER BY d.collected_on, d.id, r.analyte) AS evidence
    FROM aftercare_drugscreen d
    JOIN p ON p.patient_id = d.patient_id
    JOIN aftercare_drugscreenresult r ON r.screen_id = d.id
    WHERE NOT d.entered_in_error AND d.collected_on <= p.today
      AND d.collected_on > p.today - {self.cfg("days")} AND {self.matches}
    GROUP BY d.patient_id"""
        }

    def joins(self) -> list[str]:
        return [f"LEFT JOIN {self.code}_screens ON {self.code}_screens.patient_id = p.patient_id"]

    def columns(self) -> dict[str, str]:
        return {f"{self.code}_evidence": f"{self.code}_screens.evidence"}

    def evidence(self) -> str:
        return f"p.{self.code}_evidence"

    def reason(self, evidence: Sequence[dict[str, Any]], zone: zoneinfo.ZoneInfo | None = None) -> str:
        by_day: dict[str, list[str]] = {}
        for item in evidence:
            moment = instant(item.get("starts_at"))
            detail = item.get("detail")
            analyte = detail.get("analyte") if isinstance(detail, dict) else None
            label = str(Analyte(analyte).label) if analyte in Analyte.values else "a substance"
            by_day.setdefault(local_day(moment, zone) if moment else "?", []).append(label)
        screens = "; ".join(f"{day}: {', '.join(labels)}" for day, labels in by_day.items())
        return f"{self.phrase} ({screens})"


class UnexpectedPositiveScreen(ScreenRule):
    code = RiskRule.DRUG_SCREEN
    stage = Stage.PHYSICAL
    matches = f"r.result = '{ScreenResult.POSITIVE}' AND NOT r.expected"
    summary = (
        "A drug screen collected within `days` is positive for a substance the patient's treatment does not explain."
    )
    severity = "high"
    basis = (
        "An unexpected positive screen is a lapse; an opioid-positive screen in the first month predicted "
        "leaving treatment (PMC5522736)."
    )
    thresholds = {"days": Threshold(30, 1, 180, "How long a screen's result stands.")}
    lapsed_note = "No unexpected positive screen within the window any more."
    phrase = "Unexpected positive screen"

    def decides(self) -> str:
        return f"CASE WHEN p.{self.code}_evidence IS NOT NULL THEN 'high' END"


class MedicationNegativeScreen(ScreenRule):
    code = RiskRule.MAT_NEGATIVE_SCREEN
    stage = None
    drawn_from = frozenset({DisclosureCategory.DRUG_SCREENS, DisclosureCategory.MEDICATION})
    matches = f"r.result = '{ScreenResult.NEGATIVE}' AND NOT r.expected AND r.analyte IN {_MAT_ANALYTES}"
    summary = (
        "A drug screen collected within `days` is negative for the methadone or buprenorphine the patient is on: "
        "the medication may not be being taken."
    )
    severity = "medium"
    basis = (
        "A screen negative for the prescribed medication calls for a conversation about adherence and "
        "diversion (SAMHSA TIP 63, Medications for Opioid Use Disorder, 2021)."
    )
    thresholds = {"days": Threshold(30, 1, 180, "How long a screen's result stands.")}
    lapsed_note = "No medication-negative screen within the window any more."
    phrase = "Negative for the prescribed medication"

    def decides(self) -> str:
        return f"CASE WHEN p.{self.code}_evidence IS NOT NULL THEN 'medium' END"
