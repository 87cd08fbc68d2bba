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

MISSED_STATUSES = frozenset({"missed", "late_cancelled"})

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
