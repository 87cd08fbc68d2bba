"""The risk rules: what each one watches, why (its clinical basis), and the thresholds a clinic may
tune. The SQL that evaluates them is in `aftercare.risk.engine`; this module is what a clinician
reads to know what a flag means.

What counts, for every rule:
- A session is an appointment or a support-group session the patient was expected at.
- Attended: `attended` or `late`. Missed: `missed` (no-show) or `late_cancelled`.
- `cancelled`, `cancelled_by_clinic` and `excused` never count as missed (nor as attended), and a
  session still `scheduled` has no outcome yet: they are left out entirely.
- "Consecutive" means after the most recent attended one.
- Days are the clinic's calendar days (its time zone).

What a flag is drawn from, for a release under a consent (42 CFR Part 2): each rule names the
disclosure categories it reads (`drawn_from`), and a flag also belongs to the categories of every
session it was ever evidenced by (a medication visit is medication as well as attendance). A flag
goes into a release only when every one of those categories is released too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aftercare.models import RiskRule
from clinic.models import DisclosureCategory

_ATTENDANCE = DisclosureCategory.ATTENDANCE


@dataclass(frozen=True)
class Threshold:
    default: int
    minimum: int
    maximum: int
    help: str


@dataclass(frozen=True)
class Rule:
    code: str
    summary: str
    severity: str
    basis: str
    thresholds: dict[str, Threshold] = field(default_factory=dict)
    # (smaller, larger): the first may not exceed the second.
    ordered: tuple[tuple[str, str], ...] = ()
    # The disclosure categories the rule reads. A rule that does not say is taken to read them all,
    # so its flags go only into a release of everything.
    drawn_from: frozenset[str] = frozenset(DisclosureCategory.values)
    # Whether the rule's windows also open at medication starts: for a patient with one, the flag
    # is drawn from medication too.
    reads_medication_starts: bool = False

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


RULES: dict[str, Rule] = {
    rule.code: rule
    for rule in (
        Rule(
            code=RiskRule.CONSECUTIVE_MISSED,
            drawn_from=frozenset({_ATTENDANCE}),
            summary="Missed sessions in a row since the last one attended.",
            severity="medium; high from `high_at`",
            basis="Common clinic convention: two no-shows in a row call for outreach.",
            thresholds={
                "medium_at": Threshold(2, 1, 20, "Missed in a row for a medium flag."),
                "high_at": Threshold(3, 1, 20, "Missed in a row for a high flag."),
            },
            ordered=(("medium_at", "high_at"),),
        ),
        Rule(
            code=RiskRule.MISSED_IN_WINDOW,
            drawn_from=frozenset({_ATTENDANCE}),
            summary="Missed sessions within the last days, in a row or not.",
            severity="medium",
            basis="Convention: a pattern of misses matters even between attended sessions.",
            thresholds={
                "count": Threshold(3, 1, 50, "Missed sessions that raise the flag."),
                "days": Threshold(30, 1, 365, "The window, in days back from now."),
            },
        ),
        Rule(
            code=RiskRule.EARLY_MISSED,
            # The window opens at the active plan's start, or at a medication start.
            drawn_from=frozenset({_ATTENDANCE, DisclosureCategory.PLAN}),
            reads_medication_starts=True,
            summary="Any missed session in the first days of the active plan or of a medication start.",
            severity="high",
            basis="Dropout peaks in the first 30 days of treatment (PMC7609975, PMC5522736).",
            thresholds={"days": Threshold(30, 1, 180, "How long 'early' lasts, in days.")},
        ),
        Rule(
            code=RiskRule.MEDICATION_MISSED,
            drawn_from=frozenset({_ATTENDANCE, DisclosureCategory.MEDICATION}),
            summary="Medication (MAT) visits missed in a row since the last one attended.",
            severity="high",
            basis="Methadone guidance: 3 or more missed doses call for prescriber review, 5 for re-induction.",
            thresholds={"count": Threshold(3, 1, 20, "Missed medication visits in a row.")},
        ),
        Rule(
            code=RiskRule.NO_CONTACT,
            # Active patients only, counted from intake without an attended session.
            drawn_from=frozenset({_ATTENDANCE, DisclosureCategory.ENROLLMENT}),
            summary="An active patient with no attended session (counted from intake when there is none).",
            severity="medium; high after `high_days`",
            basis="More than 37 days without a visit is lost to follow-up (Ker et al. 2021).",
            thresholds={
                "medium_days": Threshold(30, 1, 365, "Days without an attended session for a medium flag."),
                "high_days": Threshold(37, 1, 730, "More days than this for a high flag."),
            },
            ordered=(("medium_days", "high_days"),),
        ),
        Rule(
            code=RiskRule.POST_DISCHARGE_GAP,
            # Discharged patients, counted from the discharge date.
            drawn_from=frozenset({_ATTENDANCE, DisclosureCategory.ENROLLMENT}),
            summary=(
                "A discharged patient with no attended session within `initiation_days` of discharge (high), "
                "or fewer than `engagement_sessions` within `engagement_days` (medium)."
            ),
            severity="high (initiation) or medium (engagement)",
            basis="HEDIS IET: initiation within 14 days, engagement (2 or more services) within 34 days.",
            thresholds={
                "initiation_days": Threshold(14, 1, 90, "Days after discharge for the first attended session."),
                "engagement_days": Threshold(34, 1, 180, "Days after discharge for the engagement sessions."),
                "engagement_sessions": Threshold(2, 1, 20, "Attended sessions expected within engagement_days."),
                "watch_days": Threshold(90, 1, 730, "How long after discharge the patient is watched."),
            },
            ordered=(("initiation_days", "engagement_days"), ("engagement_days", "watch_days")),
        ),
        Rule(
            code=RiskRule.GROUP_DROPOUT,
            drawn_from=frozenset({_ATTENDANCE}),
            summary="Sessions of a group the patient belongs to missed in a row since the last one attended.",
            severity="medium",
            basis="Stopping support groups is an early relapse sign (pulling away from support).",
            thresholds={"count": Threshold(3, 1, 20, "Missed sessions of one group in a row.")},
        ),
    )
}
