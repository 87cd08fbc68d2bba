"""Follow-up after a care transition: the weeks after leaving a higher level of care (or this
clinic's programme) are when people are lost, and when overdose risk is highest (lost tolerance)."""

# ruff: noqa: S608  (SQL from this project's constants; values are parameters)

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from typing import Any

from aftercare.models import RiskRule
from aftercare.risk.rules.base import Rule, Threshold, days_of, missed_and_attended
from aftercare.risk.sql import attended_between, evidence_of, local_midnight
from clinic.models import DisclosureCategory


class PostDischargeGap(Rule):
    code = RiskRule.POST_DISCHARGE_GAP
    # Discharged patients, counted from the discharge date.
    drawn_from = frozenset({DisclosureCategory.ATTENDANCE, DisclosureCategory.ENROLLMENT})
    summary = (
        "After discharge: no attended session within `initiation_days` (high), or fewer than "
        "`engagement_sessions` within `engagement_days` (medium)."
    )
    severity = "high (no follow-up within 7 days) or medium (fewer than 2 within 30 days)"
    basis = (
        "HEDIS FUI, Follow-Up After High-Intensity Care for Substance Use Disorder (NCQA): follow-up within 7 and "
        "within 30 days of discharge; overdose risk is highest in the weeks after leaving care (Strang et al., "
        "BMJ 2003)."
    )
    thresholds = {
        "initiation_days": Threshold(7, 1, 90, "Days after discharge for the first attended session."),
        "engagement_days": Threshold(30, 1, 180, "Days after discharge for the follow-up sessions."),
        "engagement_sessions": Threshold(2, 1, 20, "Attended sessions expected within engagement_days."),
        "watch_days": Threshold(90, 1, 730, "How long after discharge the patient is watched."),
    }
    ordered = (("initiation_days", "engagement_days"), ("engagement_days", "watch_days"))
    lapsed_note = "Follow-up sessions were attended (or the watch after discharge has ended)."

    def ctes(self) -> dict[str, str]:
        since = local_midnight("p.discharge_date")
        until = local_midnight(f"p.discharge_date + 1 + {self.cfg('engagement_days')}")
        initiation_end = local_midnight(f"p.discharge_date + 1 + {self.cfg('initiation_days')}")
        return {
            # Attended sessions in the weeks after a recent discharge: read for those patients only.
            "discharge": f"""
    SELECT p.patient_id, x.*
    FROM p CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE x.starts_at < {initiation_end}) AS initiation_n,
               count(*) AS engagement_n,
               {evidence_of("x")} AS evidence
        FROM ({attended_between(since, until)}) AS x
    ) AS x
    WHERE p.status = 'discharged' AND p.discharge_date IS NOT NULL
      AND p.today - p.discharge_date <= {self.cfg("watch_days")}"""
        }

    def joins(self) -> list[str]:
        return ["LEFT JOIN discharge ON discharge.patient_id = p.patient_id"]

    def columns(self) -> dict[str, str]:
        return {
            "discharge_initiation_n": "coalesce(discharge.initiation_n, 0)",
            "discharge_engagement_n": "coalesce(discharge.engagement_n, 0)",
            "discharge_evidence": "coalesce(discharge.evidence, '[]')",
        }

    def decides(self) -> str:
        return (
            "CASE WHEN p.status <> 'discharged' OR p.discharge_date IS NULL "
            f"OR p.today - p.discharge_date > {self.cfg('watch_days')} THEN NULL "
            f"WHEN p.today > p.discharge_date + {self.cfg('initiation_days')} AND p.discharge_initiation_n = 0 "
            "THEN 'high' "
            f"WHEN p.today > p.discharge_date + {self.cfg('engagement_days')} "
            f"AND p.discharge_engagement_n < {self.cfg('engagement_sessions')} THEN 'medium' END"
        )

    def evidence(self) -> str:
        return "p.discharge_evidence"

    def reason(self, evidence: Sequence[dict[str, Any]], zone: zoneinfo.ZoneInfo | None = None) -> str:
        _, attended = missed_and_attended(evidence)
        if attended:
            return f"Only {len(attended)} attended since discharge: {days_of(attended, zone)}"
        return "No attended session since discharge"
