"""The patient's own signal: recovery check-ins (aftercare/checkins/). Use they report is the
physical stage of relapse; craving and low confidence the mental stage, which comes before it;
check-ins going unanswered, like missed sessions, the emotional stage of pulling away. A request
to be called is a task for the flag queue at once, whatever else the answers say.

Each rule reads the patient's latest answered check-in (`checkin_last`), while it is recent
(`days`), so a newer answer that no longer reports the sign ends the flag.
"""

# ruff: noqa: S608  (SQL from this project's constants; values are parameters)

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from typing import Any

from aftercare.models import RiskRule
from aftercare.models.checkins import CheckInStatus
from aftercare.risk.rules.base import Rule, Stage, Threshold, instant, local_day
from clinic.models import DisclosureCategory

_DRAWN_FROM = frozenset({DisclosureCategory.CHECK_INS})
_BAM = "Brief Addiction Monitor (Cacciola et al. 2013, Journal of Substance Abuse Treatment 44:256-263)"
# Weekly check-in answers predicted lapses in the following week.
_CHIH = "Chih et al. 2014, Journal of Substance Abuse Treatment 46:29-35"

_LAST = """
    SELECT DISTINCT ON (r.patient_id) r.patient_id, r.checkin_id AS id, r.answered_at, r.use_days, r.craving,
           r.confidence, r.wants_call
    FROM aftercare_checkinresponse r
    JOIN p ON p.patient_id = r.patient_id
    WHERE r.answered_at <= %(now)s
    ORDER BY r.patient_id, r.answered_at DESC, r.checkin_id DESC"""


def _answer(keys: str) -> str:
    """The latest answer as evidence, with the answers the rule read (`keys`: jsonb_build_object pairs)."""
    return (
        "jsonb_build_array(jsonb_build_object('type', 'check_in', 'id', p.ci_id, 'starts_at', "
        f"p.ci_answered_at, 'status', 'answered', 'detail', jsonb_build_object({keys})))"
    )


class CheckInRule(Rule):
    drawn_from = _DRAWN_FROM

    def ctes(self) -> dict[str, str]:
        return {"checkin_last": _LAST}

    def joins(self) -> list[str]:
        return ["LEFT JOIN checkin_last ON checkin_last.patient_id = p.patient_id"]

    def columns(self) -> dict[str, str]:
        return {
            "ci_id": "checkin_last.id",
            "ci_answered_at": "checkin_last.answered_at",
            "ci_use_days": "checkin_last.use_days",
            "ci_craving": "checkin_last.craving",
            "ci_confidence": "checkin_last.confidence",
            "ci_wants_call": "checkin_last.wants_call",
        }

    def recent(self) -> str:
        return f"p.ci_answered_at > %(now)s - {self.days('days')}"

    @staticmethod
    def detail(evidence: Sequence[dict[str, Any]], zone: zoneinfo.ZoneInfo | None) -> tuple[dict[str, Any], str]:
        """The answers the evidence kept, and the day of the check-in."""
        item = evidence[-1] if evidence else {}
        moment = instant(item.get("starts_at"))
        detail = item.get("detail")
        return (detail if isinstance(detail, dict) else {}), (local_day(moment, zone) if moment else "?")


class CheckInUse(CheckInRule):
    code = RiskRule.CHECKIN_USE
    stage = Stage.PHYSICAL
    summary = (
        "The latest check-in (within `days`) reports drinking or drug use on `use_days` or more of the past 7 days."
    )
    severity = "high"
    basis = f"Any reported use is a lapse to act on the same day ({_BAM}; {_CHIH})."
    thresholds = {
        "use_days": Threshold(1, 1, 7, "Days of use reported that raise the flag."),
        "days": Threshold(14, 1, 60, "How long a check-in's answer stands."),
    }
    lapsed_note = "A newer check-in reports no use (or the last one is too old to stand)."

    def decides(self) -> str:
        return f"CASE WHEN {self.recent()} AND p.ci_use_days >= {self.cfg('use_days')} THEN 'high' END"

    def evidence(self) -> str:
        return _answer("'use_days', p.ci_use_days")

    def reason(self, evidence: Sequence[dict[str, Any]], zone: zoneinfo.ZoneInfo | None = None) -> str:
        detail, day = self.detail(evidence, zone)
        return f"Check-in {day}: reported use on {detail.get('use_days', '?')} of the past 7 days"


class CheckInCraving(CheckInRule):
    code = RiskRule.CHECKIN_CRAVING
    stage = Stage.MENTAL
    summary = (
        "The latest check-in (within `days`) reports craving at `craving_at` or more (0-4), or confidence in "
        "staying abstinent at `confidence_at_most` or less (0-4)."
    )
    severity = "medium"
    basis = (
        f"Craving and low confidence in abstinence are the mental stage that comes before use ({_BAM}; "
        "Melemis 2015, Yale Journal of Biology and Medicine 88:325-332)."
    )
    thresholds = {
        "craving_at": Threshold(3, 1, 4, "Craving (0 not at all .. 4 extremely) that raises the flag."),
        "confidence_at_most": Threshold(1, 0, 3, "Confidence (0 .. 4) at or below which the flag is raised."),
        "days": Threshold(14, 1, 60, "How long a check-in's answer stands."),
    }
    lapsed_note = "A newer check-in reports less craving and more confidence (or the last one is too old to stand)."

    def decides(self) -> str:
        return (
            f"CASE WHEN {self.recent()} AND (p.ci_craving >= {self.cfg('craving_at')} "
            f"OR p.ci_confidence <= {self.cfg('confidence_at_most')}) THEN 'medium' END"
        )

    def evidence(self) -> str:
        return _answer("'craving', p.ci_craving, 'confidence', p.ci_confidence")

    def reason(self, evidence: Sequence[dict[str, Any]], zone: zoneinfo.ZoneInfo | None = None) -> str:
        detail, day = self.detail(evidence, zone)
        craving, confidence = detail.get("craving", "?"), detail.get("confidence", "?")
        return f"Check-in {day}: craving {craving}/4, confidence {confidence}/4"


class CheckInCallRequest(CheckInRule):
    code = RiskRule.CHECKIN_CALL_REQUEST
    stage = None
    summary = "The latest check-in (within `days`) asks for someone from the clinic to call."
    severity = "high: a person asked for help"
    basis = (
        "A patient's request for contact is answered the same day; asking for help is a protective step "
        "(SAMHSA TIP 35, Enhancing Motivation for Change in Substance Use Disorder Treatment, 2019)."
    )
    thresholds = {"days": Threshold(7, 1, 30, "How long a request stands without a newer check-in.")}
    lapsed_note = "A newer check-in does not ask for a call (or the request is too old to stand)."

    def decides(self) -> str:
        return f"CASE WHEN {self.recent()} AND p.ci_wants_call THEN 'high' END"

    def evidence(self) -> str:
        return _answer("'wants_call', true")

    def reason(self, evidence: Sequence[dict[str, Any]], zone: zoneinfo.ZoneInfo | None = None) -> str:
        _, day = self.detail(evidence, zone)
        return f"Asked to be called (check-in {day})"


class CheckInSilent(Rule):
    code = RiskRule.CHECKIN_SILENT
    stage = Stage.EMOTIONAL
    drawn_from = _DRAWN_FROM
    summary = "Check-ins gone unanswered in a row (expired) since the last one answered."
    severity = "low"
    basis = f"Weekly check-ins that stop being answered signal disengagement before sessions are missed ({_CHIH})."
    thresholds = {"count": Threshold(2, 1, 10, "Unanswered check-ins in a row that raise the flag.")}
    lapsed_note = "A check-in was answered since."

    def ctes(self) -> dict[str, str]:
        return {
            "checkin_last": _LAST,
            "checkin_silence": f"""
    SELECT c.patient_id, count(*) AS n,
           jsonb_agg(jsonb_build_object('type', 'check_in', 'id', c.id, 'starts_at', c.expires_at,
                                        'status', 'expired') ORDER BY c.expires_at, c.id) AS evidence
    FROM aftercare_checkin c
    JOIN p ON p.patient_id = c.patient_id
    LEFT JOIN checkin_last l ON l.patient_id = c.patient_id
    WHERE c.status = '{CheckInStatus.EXPIRED}' AND c.expires_at <= %(now)s
      AND c.expires_at > coalesce(l.answered_at, '-infinity')
    GROUP BY c.patient_id""",
        }

    def joins(self) -> list[str]:
        return ["LEFT JOIN checkin_silence ON checkin_silence.patient_id = p.patient_id"]

    def columns(self) -> dict[str, str]:
        return {
            "ci_silent_n": "coalesce(checkin_silence.n, 0)",
            "ci_silent_evidence": "checkin_silence.evidence",
        }

    def decides(self) -> str:
        return f"CASE WHEN p.ci_silent_n >= {self.cfg('count')} THEN 'low' END"

    def evidence(self) -> str:
        return "p.ci_silent_evidence"

    def reason(self, evidence: Sequence[dict[str, Any]], zone: zoneinfo.ZoneInfo | None = None) -> str:
        days = [local_day(moment, zone) for moment in (instant(i.get("starts_at")) for i in evidence) if moment]
        return f"{len(days)} check-ins unanswered in a row: {', '.join(days)}"
