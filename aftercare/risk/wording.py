"""A flag's reason in words, as staff read it: "Missed 2 in a row: Tue 24 Nov, Mon 30 Nov".

Made from the rule and the evidence the engine stored on the flag (no query), with dates in the
time zone given (the clinic's; the dashboard renders in it).
"""

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import Sequence
from typing import Any

from django.utils import dateformat, timezone

from aftercare.models import RiskRule
from aftercare.risk.rules import RULES, Stage
from aftercare.risk.rules.base import instant as _instant
from aftercare.risk.rules.base import local_day

__all__ = ["evidence_line", "flag_reason", "flag_stage", "local_day", "local_moment"]

_STAGES = {
    Stage.EMOTIONAL: "Emotional: pulling away from care and support",
    Stage.MENTAL: "Mental: craving, low confidence",
    Stage.PHYSICAL: "Physical: use",
}


def flag_stage(rule: str) -> str:
    """The relapse stage the rule's evidence points to, in words."""
    stage = RULES[rule].stage if rule in RULES else None
    return _STAGES[stage] if stage is not None else "None: a request or a concern about treatment"


def flag_reason(rule: str, evidence: Sequence[dict[str, Any]], zone: zoneinfo.ZoneInfo | None = None) -> str:
    """One line saying why the rule fired, from the flag's stored evidence (the rule's own words)."""
    if rule in RULES:
        return RULES[rule].reason(evidence, zone)
    return str(RiskRule(rule).label) if rule in RiskRule.values else rule


# --- One line per evidence item, with its context --------------------------------------------------

_DID = {
    "missed": "missed",
    "late_cancelled": "cancelled late",
    "attended": "attended",
    "late": "came late to",
    "cancelled": "cancelled",
    "cancelled_by_clinic": "had cancelled by the clinic",
    "excused": "was excused from",
}


def local_moment(moment: datetime.datetime, zone: zoneinfo.ZoneInfo | None = None) -> str:
    """ "Wed 14 Oct 12:00" in the zone given, else the one the page renders in."""
    return dateformat.format(moment.astimezone(zone) if zone else timezone.localtime(moment), "D j M H:i")


def evidence_line(
    rule: str,
    item: dict[str, Any],
    *,
    what: str | None,
    plan_start: datetime.date | None = None,
    discharged_on: datetime.date | None = None,
    zone: zoneinfo.ZoneInfo | None = None,
) -> str:
    """ "missed individual therapy Wed 14 Oct 12:00, day 29 of the plan".

    `what` names the session (an appointment's kind, a group's name; None when it is gone); the
    context is the day after discharge for the discharge rule, else the day of the plan the
    session fell in (when it did)."""
    status = str(item.get("status") or "")
    moment = _instant(item.get("starts_at"))
    record = _record_line(item, status, moment, zone)
    if record is not None:
        return record
    if what is None:
        what = "a group session" if item.get("type") == "group_session" else "a session"
    line = f"{_DID.get(status, status.replace('_', ' '))} {what}"
    if moment is None:
        return line
    line += f" {local_moment(moment, zone)}"
    day = (moment.astimezone(zone) if zone else timezone.localtime(moment)).date()
    if rule == RiskRule.POST_DISCHARGE_GAP and discharged_on is not None and day >= discharged_on:
        days = (day - discharged_on).days
        line += ", the day of discharge" if days == 0 else f", {days} day{'s' if days != 1 else ''} after discharge"
    elif plan_start is not None and day >= plan_start:
        line += f", day {(day - plan_start).days + 1} of the plan"
    return line


# Records, by evidence type: what the record says, on its day (records carry a day, not a time).
_RECORD_STATUS = {
    "dose_observed": "dose given under observation",
    "take_home_dispensed": "take-home supply dispensed",
    "injection_given": "injection given",
    "dose_missed": "dose missed",
    "positive": "positive",
    "negative": "negative",
    "invalid": "invalid specimen",
}


def _record_line(
    item: dict[str, Any], status: str, moment: datetime.datetime | None, zone: zoneinfo.ZoneInfo | None
) -> str | None:
    kind = item.get("type")
    if kind not in {"check_in", "medication_event", "drug_screen", "care_transition"}:
        return None
    day = local_day(moment, zone) if moment is not None else "an unknown day"
    raw = item.get("detail")
    detail: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if kind == "check_in":
        if status == "expired":
            return f"check-in not answered (expired {local_moment(moment, zone) if moment else day})"
        answers = ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in sorted(detail.items()))
        answered = f"check-in answered {local_moment(moment, zone) if moment else day}"
        return f"{answered}: {answers}" if answers else answered
    if kind == "medication_event":
        return f"{_RECORD_STATUS.get(status, status.replace('_', ' '))} {day}"
    if kind == "drug_screen":
        analyte = str(detail.get("analyte") or "a substance").replace("_", " ")
        return f"screen collected {day}: {_RECORD_STATUS.get(status, status)} for {analyte}"
    return f"care transition {day}"
