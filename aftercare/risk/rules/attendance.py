"""Rules over attendance: sessions missed in a row, in a window, early on, a group dropped, no
contact for weeks. Their stage is emotional: pulling away from care and support comes first."""

# ruff: noqa: S608  (SQL from this project's constants; values are parameters)

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from typing import Any

from aftercare.models import RiskRule
from aftercare.models.outcomes import Outcome, SqlOutcomes
from aftercare.risk.rules.base import MissedSessionsRule, Rule, Threshold, local_day, missed_and_attended
from aftercare.risk.sql import MICROSECOND, after, evidence_of, evidence_slice, local_midnight
from clinic.models import DisclosureCategory

_ATTENDANCE = DisclosureCategory.ATTENDANCE


class ConsecutiveMissed(MissedSessionsRule):
    """Misses in a row, counted over every session and over each stream apart (individual
    appointments, group sessions, medication visits): attending a group does not end a run of
    missed therapy. The longest run decides, and is the evidence."""

    code = RiskRule.CONSECUTIVE_MISSED
    drawn_from = frozenset({_ATTENDANCE})
    summary = (
        "Missed sessions in a row since the last one attended, over all sessions or within one stream "
        "(individual appointments, group sessions, medication visits)."
    )
    severity = "medium; high from `high_at`"
    basis = (
        "Clinic practice, not a published cut-off: two no-shows in a row call for outreach; missed sessions "
        "predict dropping out of treatment (Stark 1992, Clinical Psychology Review 12:93-116)."
    )
    thresholds = {
        "medium_at": Threshold(2, 1, 20, "Missed in a row for a medium flag."),
        "high_at": Threshold(3, 1, 20, "Missed in a row for a high flag."),
    }
    ordered = (("medium_at", "high_at"),)
    phrase = "Missed {n} in a row"
    lapsed_note = "A session was attended since the misses in a row."
    # (timeline prefix, evidence column): every session, then each stream. On a tie the first wins.
    RUNS = (("", "missed"), ("individual_", "individual_missed"), ("group_", "group_missed"),
            ("medication_", "medication_missed"))  # fmt: skip

    def columns(self) -> dict[str, str]:
        # Per run: the position of its first miss after its last attended session, and its length.
        columns = {}
        for prefix, _ in self.RUNS:
            first = f"width_bucket(coalesce(p.{prefix}attended_at, '-infinity'), p.{prefix}missed_at)"
            columns[f"cm_{prefix}first"] = first
            columns[f"cm_{prefix}n"] = f"cardinality(p.{prefix}missed_at) - {first}"
        return columns

    def _longest(self) -> str:
        return f"greatest({', '.join(f'p.cm_{prefix}n' for prefix, _ in self.RUNS)})"

    def decides(self) -> str:
        return (
            f"CASE WHEN {self._longest()} >= {self.cfg('high_at')} THEN 'high' "
            f"WHEN {self._longest()} >= {self.cfg('medium_at')} THEN 'medium' END"
        )

    def evidence(self) -> str:
        branches = " ".join(
            f"WHEN p.cm_{prefix}n = {self._longest()} THEN {evidence_slice(f's.{column}', f'p.cm_{prefix}first')}"
            for prefix, column in self.RUNS
        )
        return f"CASE {branches} END"


class MissedInWindow(MissedSessionsRule):
    code = RiskRule.MISSED_IN_WINDOW
    drawn_from = frozenset({_ATTENDANCE})
    summary = "Missed sessions within the last days, in a row or not."
    severity = "medium"
    basis = (
        "Clinic practice, not a published cut-off: a pattern of misses matters even between attended sessions "
        "(Stark 1992, Clinical Psychology Review 12:93-116)."
    )
    thresholds = {
        "count": Threshold(3, 1, 50, "Missed sessions that raise the flag."),
        "days": Threshold(30, 1, 365, "The window, in days back from now."),
    }
    phrase = "Missed {n} recently"
    lapsed_note = "Fewer sessions were missed within the window."

    def columns(self) -> dict[str, str]:
        return {"win_first": f"width_bucket(%(now)s - {self.days('days')}, p.missed_at)"}

    def decides(self) -> str:
        return f"CASE WHEN cardinality(p.missed_at) - p.win_first >= {self.cfg('count')} THEN 'medium' END"

    def evidence(self) -> str:
        return evidence_slice("s.missed", "p.win_first")


class EarlyMissed(MissedSessionsRule):
    """Misses in the first days of the active plan or of a medication start. One is a reason to
    reach out (medium); a second before the patient re-engages is high. Once they have attended
    `reengaged_after` sessions since the last early miss, the rule stops holding and says so."""

    code = RiskRule.EARLY_MISSED
    # The window opens at the active plan's start, or at a medication start.
    drawn_from = frozenset({_ATTENDANCE, DisclosureCategory.PLAN})
    reads_medication_starts = True
    summary = (
        "Missed sessions in the first days of the active plan or of a medication start, until the patient has "
        "attended `reengaged_after` sessions since the last of them."
    )
    severity = "medium; high from `high_at` early misses"
    basis = "Dropout peaks in the first 30 days of treatment (PMC7609975, PMC5522736)."
    thresholds = {
        "days": Threshold(30, 1, 180, "How long 'early' lasts, in days."),
        "high_at": Threshold(2, 1, 20, "Early misses (not followed by re-engagement) for a high flag."),
        "reengaged_after": Threshold(2, 1, 20, "Sessions attended since the last early miss that end the flag."),
    }
    phrase = "Missed {n} early in aftercare"
    lapsed_note = "Re-engaged: sessions attended since the last early miss (or no early miss remains)."

    def ctes(self) -> dict[str, str]:
        return {
            # Where "early" starts: the active plan's start and each of its medication starts.
            # One pass over the plans and one over their medication activities (hashed, not a
            # lookup per plan).
            "early": """
    SELECT starts.patient_id, array_agg(starts.day) AS days
    FROM (
        SELECT pl.patient_id, pl.start_date AS day
        FROM aftercare_aftercareplan pl
        WHERE pl.status = 'active' {plans}
        UNION ALL
        SELECT pl.patient_id, act.medication_started_on
        FROM aftercare_aftercareplan pl
        JOIN aftercare_planactivity act ON act.plan_id = pl.id AND act.kind = 'medication'
        WHERE pl.status = 'active' {plans}
    ) AS starts
    WHERE starts.day IS NOT NULL
    GROUP BY starts.patient_id"""
        }

    def joins(self) -> list[str]:
        return ["LEFT JOIN early ON early.patient_id = p.patient_id"]

    def _in_window(self, moment: str) -> str:
        end = local_midnight("start.day + " + self.cfg("days"))
        return (
            f"EXISTS (SELECT 1 FROM unnest(early.days) AS start(day) "
            f"WHERE {moment} >= {local_midnight('start.day')} AND {moment} < {end})"
        )

    def columns(self) -> dict[str, str]:
        # Whether any miss falls in a window: per window, a binary search in the sorted misses.
        end = local_midnight("start.day + " + self.cfg("days"))
        any_early = (
            "EXISTS (SELECT 1 FROM unnest(early.days) AS start(day) "
            f"WHERE width_bucket({end} - {MICROSECOND}, p.missed_at) "
            f"> width_bucket({local_midnight('start.day')} - {MICROSECOND}, p.missed_at))"
        )
        return {
            # The 1-based positions, in the patient's misses, of those that fell early.
            "early_positions": f"""CASE WHEN early.days IS NOT NULL AND {any_early} THEN ARRAY(
        SELECT m.n FROM unnest(p.missed_at) WITH ORDINALITY AS m(starts_at, n)
        WHERE {self._in_window("m.starts_at")} ORDER BY m.n) END""",
        }

    def decides(self) -> str:
        n = "cardinality(p.early_positions)"
        last = "p.missed_at[p.early_positions[cardinality(p.early_positions)]]"
        return (
            f"CASE WHEN coalesce({n}, 0) = 0 THEN NULL "
            f"WHEN {after('p.attended_times', last)} >= {self.cfg('reengaged_after')} THEN NULL "
            f"WHEN {n} >= {self.cfg('high_at')} THEN 'high' ELSE 'medium' END"
        )

    def evidence(self) -> str:
        return (
            "(SELECT jsonb_agg(s.missed->(position::int - 1) ORDER BY position) "
            "FROM unnest(p.early_positions) AS position)"
        )


class NoContact(Rule):
    code = RiskRule.NO_CONTACT
    # Active patients only, counted from intake without an attended session.
    drawn_from = frozenset({_ATTENDANCE, DisclosureCategory.ENROLLMENT})
    summary = "An active patient with no attended session (counted from intake when there is none)."
    severity = "medium; high after `high_days`"
    basis = "More than 37 days without a visit is lost to follow-up (Ker et al. 2021)."
    thresholds = {
        "medium_days": Threshold(30, 1, 365, "Days without an attended session for a medium flag."),
        "high_days": Threshold(37, 1, 730, "More days than this for a high flag."),
    }
    ordered = (("medium_days", "high_days"),)
    lapsed_note = "A session was attended (or the patient is no longer active)."

    def columns(self) -> dict[str, str]:
        return {"contact_since": f"greatest(p.attended_at, {local_midnight('p.intake_date')})"}

    def decides(self) -> str:
        return (
            "CASE WHEN p.status <> 'active' THEN NULL "
            f"WHEN %(now)s - p.contact_since > {self.days('high_days')} THEN 'high' "
            f"WHEN %(now)s - p.contact_since >= {self.days('medium_days')} THEN 'medium' END"
        )

    def evidence(self) -> str:
        return "coalesce(s.attended, '[]')"

    def reason(self, evidence: Sequence[dict[str, Any]], zone: zoneinfo.ZoneInfo | None = None) -> str:
        _, attended = missed_and_attended(evidence)
        last = max(attended, default=None)
        return f"No attended session since {local_day(last, zone)}" if last else "No attended session on record"


class GroupDropout(MissedSessionsRule):
    code = RiskRule.GROUP_DROPOUT
    drawn_from = frozenset({_ATTENDANCE})
    summary = "Sessions of a group the patient belongs to missed in a row since the last one attended."
    severity = "medium"
    basis = "Stopping support groups is an early relapse sign: pulling away from support (Melemis 2015)."
    thresholds = {"count": Threshold(3, 1, 20, "Missed sessions of one group in a row.")}
    phrase = "Missed {n} group sessions in a row"
    lapsed_note = "A session of the group was attended since (or the patient left the group)."

    def ctes(self) -> dict[str, str]:
        attended = SqlOutcomes.group(Outcome.ATTENDED)
        return {
            "group_events": f"""
    SELECT ga.patient_id, gs.group_id, gs.id, gs.starts_at, ga.status::text AS status, 'group_session'::text AS type
    FROM aftercare_groupmembership gm
    JOIN p ON p.patient_id = gm.patient_id
    JOIN aftercare_groupsession gs ON gs.group_id = gm.group_id AND NOT gs.cancelled
        AND gs.starts_at >= {local_midnight("gm.joined_on")}
    JOIN aftercare_groupattendance ga ON ga.session_id = gs.id AND ga.patient_id = gm.patient_id
        AND ga.status IN {SqlOutcomes.group(Outcome.ATTENDED, Outcome.MISSED)}
    WHERE gm.left_on IS NULL""",
            "group_streaks": f"""
    SELECT e.patient_id, e.group_id, count(*) AS n, {evidence_of("e")} AS evidence
    FROM group_events e
    WHERE e.status IN {SqlOutcomes.group(Outcome.MISSED)} AND e.starts_at > coalesce((
        SELECT max(l.starts_at) FROM group_events l
        WHERE l.patient_id = e.patient_id AND l.group_id = e.group_id AND l.status IN {attended}
    ), '-infinity')
    GROUP BY e.patient_id, e.group_id""",
        }

    def decides(self) -> str:
        return "NULL"  # decided per group, below

    def firing(self) -> str:
        return f"""
SELECT g.patient_id, p.clinic_id, '{self.code}', 'medium', jsonb_agg(item ORDER BY item->>'starts_at', item->>'id')
FROM group_streaks g
JOIN p ON p.patient_id = g.patient_id
CROSS JOIN LATERAL jsonb_array_elements(g.evidence) AS item
WHERE g.n >= {self.cfg("count")}
GROUP BY g.patient_id, p.clinic_id"""
