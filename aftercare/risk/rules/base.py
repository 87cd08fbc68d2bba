"""What a risk rule is: one object holding everything about it.

A rule says what it watches (`summary`), how bad a flag is (`severity`), why (`basis`, naming its
source), which relapse stage its evidence points to (`stage`), the thresholds a clinic may tune
(with bounds), what it reads (`drawn_from`, for releases under a consent), the SQL that decides it
for every patient at once and the evidence it keeps, the sentence staff read ("Missed 2 in a
row: Tue 24 Nov, Mon 30 Nov"), and the note written when it stops holding. The engine
(aftercare/risk/engine.py) loops over the rules; nothing else knows one rule from another.

What counts as attended and missed is aftercare/models/outcomes.py. Days are the clinic's calendar
days (its time zone). What a flag is drawn from, for a release under a consent (42 CFR Part 2):
each rule names the disclosure categories it reads (`drawn_from`), and a flag also belongs to the
categories of every session it was ever evidenced by (a medication visit is medication as well as
attendance). A flag goes into a release only when every one of those categories is released too.
"""

from __future__ import annotations

import datetime
import enum
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from django.utils import dateformat, timezone
from django.utils.dateparse import parse_datetime

from aftercare.models import RiskRule
from aftercare.models.outcomes import MISSED_STATUSES
from clinic.models import DisclosureCategory


class Stage(enum.StrEnum):
    """The relapse stage a flag's evidence points to (Gorski; Melemis 2015): emotional (pulling
    away: missed sessions, dropping support), mental (craving, low confidence), physical (use)."""

    EMOTIONAL = "emotional"
    MENTAL = "mental"
    PHYSICAL = "physical"


@dataclass(frozen=True)
class Threshold:
    default: int
    minimum: int
    maximum: int
    help: str


def instant(value: Any) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        return value
    return parse_datetime(value) if isinstance(value, str) else None


def local_day(moment: datetime.datetime, zone: zoneinfo.ZoneInfo | None = None) -> str:
    """ "Tue 24 Nov" in the zone given, else the one the page renders in."""
    return dateformat.format(moment.astimezone(zone) if zone else timezone.localtime(moment), "D j M")


def days_of(moments: Sequence[datetime.datetime], zone: zoneinfo.ZoneInfo | None) -> str:
    return ", ".join(local_day(moment, zone) for moment in moments)


def missed_and_attended(
    evidence: Sequence[dict[str, Any]],
) -> tuple[list[datetime.datetime], list[datetime.datetime]]:
    """The instants of the evidence's missed sessions and of its other (attended) ones."""
    moments = [(item.get("status"), instant(item.get("starts_at"))) for item in evidence]
    missed = [moment for status, moment in moments if status in MISSED_STATUSES and moment is not None]
    attended = [moment for status, moment in moments if status not in MISSED_STATUSES and moment is not None]
    return missed, attended


class Rule:
    """One risk rule. Subclasses set the class attributes and write `decides` (and, as they need,
    the SQL hooks below)."""

    code: ClassVar[str]
    summary: ClassVar[str]
    severity: ClassVar[str]  # in words: "medium; high from `high_at`"
    basis: ClassVar[str]  # the clinical reason, naming its source
    # None: a request or a concern about treatment itself, not a sign of a relapse stage.
    stage: ClassVar[Stage | None] = Stage.EMOTIONAL
    thresholds: ClassVar[dict[str, Threshold]] = {}
    # (smaller, larger): the first may not exceed the second.
    ordered: ClassVar[tuple[tuple[str, str], ...]] = ()
    # The disclosure categories the rule reads. A rule that does not say is taken to read them all,
    # so its flags go only into a release of everything.
    drawn_from: ClassVar[frozenset[str]] = frozenset(DisclosureCategory.values)
    # Whether the rule's windows also open at medication starts: for a patient with one, the flag
    # is drawn from medication too.
    reads_medication_starts: ClassVar[bool] = False
    # Written on an open flag when the rule stops holding for the patient (the flag stays until
    # staff close it).
    lapsed_note: ClassVar[str] = "The rule no longer fires for this patient."

    # --- Thresholds ---------------------------------------------------------------------------

    def defaults(self) -> dict[str, int]:
        return {name: threshold.default for name, threshold in self.thresholds.items()}

    def validate(self, values: dict[str, Any]) -> tuple[dict[str, int], dict[str, str]]:
        """A complete set of thresholds (defaults filled in) and the errors, by threshold name."""
        errors: dict[str, str] = {}
        for name in values:
            if name not in self.thresholds:
                errors[name] = f"{self.code} has no threshold {name!r}; it has {', '.join(self.thresholds) or 'none'}."
        merged = {**self.defaults(), **{k: v for k, v in values.items() if k in self.thresholds}}
        for name, value in merged.items():
            limit = self.thresholds[name]
            if isinstance(value, bool) or not isinstance(value, int):
                errors[name] = "Must be a whole number."
            elif not limit.minimum <= value <= limit.maximum:
                errors[name] = f"Must be between {limit.minimum} and {limit.maximum}."
        for smaller, larger in self.ordered:
            if smaller not in errors and larger not in errors and merged[smaller] > merged[larger]:
                errors[larger] = f"Must be at least {smaller} ({merged[smaller]})."
        return merged, errors

    # --- SQL (see aftercare/risk/sql.py for what `p` and `s` hold) ------------------------------

    def cfg(self, name: str) -> str:
        """The clinic's value of one of this rule's thresholds, a column of every patient row."""
        if name not in self.thresholds:
            raise KeyError(f"{self.code} has no threshold {name}")
        return f"p.{self.code}__{name}"

    def days(self, name: str) -> str:
        return f"make_interval(days => {self.cfg(name)})"

    def ctes(self) -> dict[str, str]:
        """Common table expressions the rule needs, by name, over the patients `p`."""
        return {}

    def joins(self) -> list[str]:
        """LEFT JOINs of those expressions onto each patient's row (`p`)."""
        return []

    def columns(self) -> dict[str, str]:
        """Columns worked out for every patient (over `p` and the joins) before the rules decide."""
        return {}

    def decides(self) -> str:
        """A CASE over the patient's row `p`: the flag's severity, or NULL when the rule does not fire."""
        raise NotImplementedError

    def evidence(self) -> str:
        """The evidence of a firing row (`p`, and `s` its summary): a JSON array of sessions."""
        return "'[]'::jsonb"

    def firing(self) -> str | None:
        """A whole SELECT of (patient_id, clinic_id, rule, severity, evidence) instead of the
        default one over `decides` and `evidence`; a rule whose unit is not the patient uses it."""
        return None

    # --- Words ----------------------------------------------------------------------------------

    @property
    def label(self) -> str:
        return str(RiskRule(self.code).label)

    def reason(self, evidence: Sequence[dict[str, Any]], zone: zoneinfo.ZoneInfo | None = None) -> str:
        """One line saying why the rule fired, from the flag's stored evidence."""
        return self.label


class MissedSessionsRule(Rule):
    """A rule whose evidence is missed sessions: "<phrase>: Tue 24 Nov, Mon 30 Nov"."""

    phrase: ClassVar[str]  # "Missed {n} in a row"

    def reason(self, evidence: Sequence[dict[str, Any]], zone: zoneinfo.ZoneInfo | None = None) -> str:
        missed, _ = missed_and_attended(evidence)
        if not missed:
            return self.label
        return f"{self.phrase.format(n=len(missed))}: {days_of(missed, zone)}"
