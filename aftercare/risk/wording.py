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
from django.utils.dateparse import parse_datetime

from aftercare.models import RiskRule
from aftercare.models.outcomes import MISSED_STATUSES

_MISSED_PHRASE: dict[str, str] = {
    RiskRule.CONSECUTIVE_MISSED: "Missed {n} in a row",
    RiskRule.MISSED_IN_WINDOW: "Missed {n} recently",
    RiskRule.EARLY_MISSED: "Missed {n} early in aftercare",
    RiskRule.MEDICATION_MISSED: "Missed {n} medication visits in a row",
    RiskRule.GROUP_DROPOUT: "Missed {n} group sessions in a row",
}


def _instant(value: Any) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        return value
    return parse_datetime(value) if isinstance(value, str) else None


def local_day(moment: datetime.datetime, zone: zoneinfo.ZoneInfo | None = None) -> str:
    """ "Tue 24 Nov" in the zone given, else the one the page renders in."""
    return dateformat.format(moment.astimezone(zone) if zone else timezone.localtime(moment), "D j M")


def flag_reason(rule: str, evidence: Sequence[dict[str, Any]], zone: zoneinfo.ZoneInfo | None = None) -> str:
    """One line saying why the rule fired, from the flag's stored evidence."""
    moments = [(item.get("status"), _instant(item.get("starts_at"))) for item in evidence]
    missed = [moment for status, moment in moments if status in MISSED_STATUSES and moment is not None]
    attended = [moment for status, moment in moments if status not in MISSED_STATUSES and moment is not None]
    days = ", ".join(local_day(moment, zone) for moment in missed)
    if rule in _MISSED_PHRASE and missed:
        return f"{_MISSED_PHRASE[rule].format(n=len(missed))}: {days}"
    if rule == RiskRule.NO_CONTACT:
        last = max(attended, default=None)
        return f"No attended session since {local_day(last, zone)}" if last else "No attended session on record"
    if rule == RiskRule.POST_DISCHARGE_GAP:
        if attended:
            return f"Only {len(attended)} attended since discharge: " + ", ".join(
                local_day(moment, zone) for moment in attended
            )
        return "No attended session since discharge"
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
