"""Follow-up after a care transition: the weeks after leaving a higher level of care (or this
clinic's programme) are when people are lost, and when overdose risk is highest (lost tolerance)."""

# ruff: noqa: S608  (SQL from this project's constants; values are parameters)

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from typing import Any

from aftercare.models import RiskRule
from aftercare.models.records import LevelOfCare, TransitionDirection
from aftercare.risk.rules.base import Rule, Threshold, days_of, instant, local_day, missed_and_attended
from aftercare.risk.sql import attended_between, evidence_of, local_midnight
from clinic.models import DisclosureCategory

# The levels of care FUI follows up: leaving any of them is high-intensity care ending.
HIGH_INTENSITY = (LevelOfCare.WITHDRAWAL_MANAGEMENT, LevelOfCare.RESIDENTIAL, LevelOfCare.INPATIENT)


class PostDischargeGap(Rule):
    """Follow-up after the patient's latest care transition within `watch_days`: stepping down into
    this clinic's aftercare from withdrawal management, residential or inpatient care, or being
    discharged from it (a recorded discharge, or the patient's discharge date)."""

    code = RiskRule.POST_DISCHARGE_GAP
    drawn_from = frozenset({DisclosureCategory.ATTENDANCE, DisclosureCategory.ENROLLMENT})
    summary = (
        "After a care transition (discharge, or a step down into aftercare from withdrawal management, "
        "residential or inpatient care): no attended session within `initiation_days` (high), or fewer than "
        "`engagement_sessions` within `engagement_days` (medium)."
    )
    severity = "high (no follow-up within 7 days) or medium (fewer than 2 within 30 days)"
    basis = (
        "HEDIS FUI, Follow-Up After High-Intensity Care for Substance Use Disorder (NCQA): follow-up within 7 and "
        "within 30 days; overdose risk is highest in the weeks after leaving care, with tolerance lost "
        "(Strang et al., BMJ 2003;326:959-960)."
    )
    thresholds = {
        "initiation_days": Threshold(7, 1, 90, "Days after the transition for the first attended session."),
        "engagement_days": Threshold(30, 1, 180, "Days after the transition for the follow-up sessions."),
        "engagement_sessions": Threshold(2, 1, 20, "Attended sessions expected within engagement_days."),
        "watch_days": Threshold(90, 1, 730, "How long after a transition the patient is watched."),
    }
    ordered = (("initiation_days", "engagement_days"), ("engagement_days", "watch_days"))
    lapsed_note = "Follow-up sessions were attended (or the watch after the transition has ended)."

    def ctes(self) -> dict[str, str]:
        watch = self.cfg("watch_days")
        since = local_midnight("t.day")
        until = local_midnight(f"t.day + 1 + {self.cfg('engagement_days')}")
        initiation_end = local_midnight(f"t.day + 1 + {self.cfg('initiation_days')}")
        levels = ", ".join(f"'{level}'" for level in HIGH_INTENSITY)
        return {
            # Each patient's latest transition within the watch: one pass over the recorded ones.
            "transition": f"""
    SELECT DISTINCT ON (x.patient_id) x.patient_id, x.day, x.id
    FROM (
        SELECT ct.patient_id, ct.occurred_on AS day, ct.id
        FROM aftercare_caretransition ct
        JOIN p ON p.patient_id = ct.patient_id
        WHERE NOT ct.entered_in_error AND ct.occurred_on <= p.today AND p.today - ct.occurred_on <= {watch}
          AND (ct.direction = '{TransitionDirection.DISCHARGED}' OR ct.level_of_care IN ({levels}))
        UNION ALL
        SELECT p.patient_id, p.discharge_date, NULL::uuid
        FROM p
        WHERE p.status = 'discharged' AND p.discharge_date <= p.today AND p.today - p.discharge_date <= {watch}
    ) AS x
    ORDER BY x.patient_id, x.day DESC, x.id NULLS LAST""",
            # Attended sessions in the weeks after it: read for those patients only.
            "followup": f"""
    SELECT t.patient_id, t.day, t.id AS transition_id, x.*
    FROM transition t
    JOIN p ON p.patient_id = t.patient_id
    CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE x.starts_at < {initiation_end}) AS initiation_n,
               count(*) AS engagement_n,
               {evidence_of("x")} AS evidence
        FROM ({attended_between(since, until)}) AS x
    ) AS x""",
        }

    def joins(self) -> list[str]:
        return ["LEFT JOIN followup ON followup.patient_id = p.patient_id"]

    def columns(self) -> dict[str, str]:
        transition = (
            "jsonb_build_object('type', 'care_transition', 'id', followup.transition_id, "
            f"'starts_at', {local_midnight('followup.day')}, 'status', 'transition')"
        )
        return {
            "followup_day": "followup.day",
            "followup_initiation_n": "coalesce(followup.initiation_n, 0)",
            "followup_engagement_n": "coalesce(followup.engagement_n, 0)",
            # The transition itself (when it is a record; a discharge date has none), then the sessions.
            "followup_evidence": (
                f"CASE WHEN followup.transition_id IS NULL THEN coalesce(followup.evidence, '[]') "
                f"ELSE jsonb_build_array({transition}) || coalesce(followup.evidence, '[]') END"
            ),
        }

    def decides(self) -> str:
        return (
            "CASE WHEN p.followup_day IS NULL THEN NULL "
            f"WHEN p.today > p.followup_day + {self.cfg('initiation_days')} AND p.followup_initiation_n = 0 "
            "THEN 'high' "
            f"WHEN p.today > p.followup_day + {self.cfg('engagement_days')} "
            f"AND p.followup_engagement_n < {self.cfg('engagement_sessions')} THEN 'medium' END"
        )

    def evidence(self) -> str:
        return "p.followup_evidence"

    def reason(self, evidence: Sequence[dict[str, Any]], zone: zoneinfo.ZoneInfo | None = None) -> str:
        sessions = [item for item in evidence if item.get("type") != "care_transition"]
        _, attended = missed_and_attended(sessions)
        transition = next((item for item in evidence if item.get("type") == "care_transition"), None)
        moment = instant(transition.get("starts_at")) if transition else None
        since = f"the transition on {local_day(moment, zone)}" if moment else "discharge"
        if attended:
            return f"Only {len(attended)} attended since {since}: {days_of(attended, zone)}"
        return f"No attended session since {since}"
