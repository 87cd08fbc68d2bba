"""Evaluating the risk rules as set-based SQL, and turning the result into flags.

One statement computes every rule for every patient in scope from the patients' risk summaries
(aftercare/models/summary.py: the last attended session and the missed ones in order, kept current
by the database on every write to the sessions), so a sweep reads one row per patient, not every
appointment. The sweep's scope is every active or discharged patient of every active clinic; the
incremental path (after attendance is recorded) runs the very same statement for the patients
concerned, so the two cannot disagree by construction, and `tests/aftercare/test_risk_engine.py`
checks that they do not, against a plain reading of the rules over the sessions themselves.

Applying the result is set-based too, in the same transaction: one full join of the result against
the open flags finds what changed; then escalate or update the evidence of open flags, note the
ones whose rule stopped firing, raise new ones (unless a closed flag already covered the same
evidence). A transaction-level advisory lock serialises evaluations, so two never raise the same
flag; the partial unique index would refuse it anyway.
"""

# The SQL below is assembled from this module's own constants (rule codes, threshold names);
# every value, from the clock to a clinic's thresholds, is a query parameter.
# ruff: noqa: S608

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pghistory
from django.db import connection, transaction
from django.utils import timezone

from aftercare.models import SEVERITY_RANK, OutboxKind, RiskRuleSetting, Severity
from aftercare.risk.rules import RULES
from aftercare.services.outbox import outbox_enqueue
from clinic.batch import clinics_each
from clinic.models import Clinic

_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('aftercare.risk', 0))"
# Severity order in SQL, from the one the models define.
_RANK = (
    "array_position(ARRAY["
    + ", ".join(f"'{severity}'" for severity in sorted(SEVERITY_RANK, key=SEVERITY_RANK.__getitem__))
    + "]::text[], {})"
)


def _rank(expression: str) -> str:
    return _RANK.format(expression)


def _cfg(rule: str, name: str) -> str:
    """A clinic's threshold, as a column every patient row carries (NULL: the rule is off)."""
    return f"p.{rule}__{name}"


def _days(rule: str, name: str) -> str:
    return f"make_interval(days => {_cfg(rule, name)})"


# Each clinic's thresholds, one integer column per rule and threshold.
_THRESHOLD_COLUMNS = ",\n           ".join(
    f"(params.cfg->'{code}'->>'{name}')::int AS {code}__{name}"
    for code, rule in RULES.items()
    for name in rule.defaults()
)

_ATTENDED = "('attended', 'late')"


def _evidence(alias: str) -> str:
    return (
        f"jsonb_agg(jsonb_build_object('type', {alias}.type, 'id', {alias}.id, 'starts_at', {alias}.starts_at, "
        f"'status', {alias}.status) ORDER BY {alias}.starts_at, {alias}.id)"
    )


def _local_midnight(day: str) -> str:
    """The instant a clinic-local date begins (windows are compared on instants, not per row)."""
    return f"(({day})::timestamp AT TIME ZONE p.time_zone)"


def _after(timeline: str, instant: str) -> str:
    """How many entries of a sorted timeline come after `instant`: a binary search, no unnest."""
    return f"(cardinality({timeline}) - width_bucket({instant}, {timeline}))"


def _slice(items: str, first: str) -> str:
    """The evidence items from the 0-based position `first` on."""
    return f"jsonb_path_query_array({items}, '$[$first to last]', jsonb_build_object('first', {first}))"


# Attended sessions of one patient between two instants: an index range scan, run only for the
# patients a rule needs it for (the weeks after a recent discharge).
_ATTENDED_BETWEEN = f"""
    SELECT 'appointment'::text AS type, a.id, a.starts_at, a.attendance_status::text AS status
    FROM aftercare_appointment a
    WHERE a.patient_id = p.patient_id AND a.attendance_status IN {_ATTENDED}
      AND a.starts_at >= {{since}} AND a.starts_at <= {{until}}
    UNION ALL
    SELECT 'group_session', gs.id, gs.starts_at, ga.status::text
    FROM aftercare_groupattendance ga JOIN aftercare_groupsession gs ON gs.id = ga.session_id AND NOT gs.cancelled
    WHERE ga.patient_id = p.patient_id AND ga.status IN {_ATTENDED}
      AND gs.starts_at >= {{since}} AND gs.starts_at <= {{until}}
"""

_MICROSECOND = "interval '1 microsecond'"
# A missed session within an early window: [the start day, the start day + days) in clinic time.
_EARLY_WINDOW = f"""
    SELECT start.day FROM unnest(p.early_days) AS start(day)
    WHERE width_bucket({_local_midnight("start.day + " + _cfg("early_missed", "days"))} - {_MICROSECOND}, p.missed_at)
        > width_bucket({_local_midnight("start.day")} - {_MICROSECOND}, p.missed_at)
"""
_EARLY_EVIDENCE = f"""
    SELECT jsonb_agg(s.missed->(m.n::int - 1) ORDER BY m.n)
    FROM unnest(p.missed_at) WITH ORDINALITY AS m(starts_at, n)
    WHERE EXISTS (
        SELECT 1 FROM unnest(p.early_days) AS start(day)
        WHERE m.starts_at >= {_local_midnight("start.day")}
          AND m.starts_at < {_local_midnight("start.day + " + _cfg("early_missed", "days"))}
    )
"""

# Each rule's rows, with its evidence: one filtered scan of the per-patient results per rule.
_FIRING = "\nUNION ALL\n".join(
    f"SELECT p.patient_id, p.clinic_id, '{rule}' AS rule, p.{column} AS severity, {evidence} AS evidence "
    f"FROM per p LEFT JOIN aftercare_risksummary s ON s.patient_id = p.patient_id WHERE p.{column} IS NOT NULL"
    for rule, column, evidence in (
        ("consecutive_missed", "cm", _slice("s.missed", "p.cm_first")),
        ("missed_in_window", "win", _slice("s.missed", "p.win_first")),
        ("early_missed", "early", f"({_EARLY_EVIDENCE})"),
        ("medication_missed", "med", _slice("s.medication_missed", "p.med_first")),
        ("no_contact", "no_contact", "coalesce(s.attended, '[]')"),
        ("post_discharge_gap", "discharge", "coalesce(p.discharge_evidence, '[]')"),
    )
)

# Every rule for every patient in scope, from the patients' risk summaries (see
# aftercare/models/summary.py): per patient, each count is a binary search in a sorted timeline and
# each evidence a slice of a JSON array, built only for a rule that fires.
_RULES_SQL = f"""
CREATE TEMP TABLE risk_result ON COMMIT DROP AS
WITH cfg AS MATERIALIZED (
    SELECT params.clinic_id, c.time_zone, (%(now)s AT TIME ZONE c.time_zone)::date AS today,
           {_THRESHOLD_COLUMNS}
    FROM unnest(%(clinics)s::uuid[], %(configs)s::jsonb[]) AS params(clinic_id, cfg)
    JOIN clinic_clinic c ON c.id = params.clinic_id
),
p AS MATERIALIZED (
    SELECT pa.id AS patient_id, pa.status, pa.discharge_date, pa.intake_date, cfg.*,
           s.attended_at, s.medication_attended_at, coalesce(s.missed_at, '{{{{}}}}') AS missed_at,
           coalesce(s.medication_missed_at, '{{{{}}}}') AS medication_missed_at
    FROM clinic_patient pa
    JOIN cfg ON cfg.clinic_id = pa.clinic_id
    LEFT JOIN aftercare_risksummary s ON s.patient_id = pa.id
    WHERE pa.status IN ('active', 'discharged') {{patients}}
),
early AS (
    -- Where "early" starts: the active plan's start and each of its medication starts.
    SELECT pl.patient_id, array_agg(starts.day) AS days
    FROM aftercare_aftercareplan pl
    CROSS JOIN LATERAL (
        SELECT pl.start_date
        UNION ALL
        SELECT act.medication_started_on FROM aftercare_planactivity act
        WHERE act.plan_id = pl.id AND act.kind = 'medication'
    ) AS starts(day)
    WHERE pl.status = 'active' AND starts.day IS NOT NULL {{plans}}
    GROUP BY pl.patient_id
),
discharge AS (
    -- Attended sessions in the weeks after a recent discharge: read for those patients only.
    SELECT p.patient_id, x.*
    FROM p CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE x.starts_at < {
    _local_midnight(f"p.discharge_date + 1 + {_cfg('post_discharge_gap', 'initiation_days')}")
}) AS initiation_n,
               count(*) AS engagement_n,
               {_evidence("x")} AS evidence
        FROM ({
    _ATTENDED_BETWEEN.format(
        since=_local_midnight("p.discharge_date"),
        until=_local_midnight(f"p.discharge_date + 1 + {_cfg('post_discharge_gap', 'engagement_days')}"),
    )
}) AS x
    ) AS x
    WHERE p.status = 'discharged' AND p.discharge_date IS NOT NULL
      AND p.today - p.discharge_date <= {_cfg("post_discharge_gap", "watch_days")}
),
counted AS (
    SELECT p.*, early.days AS early_days,
           width_bucket(coalesce(p.attended_at, '-infinity'), p.missed_at) AS cm_first,
           width_bucket(%(now)s - {_days("missed_in_window", "days")}, p.missed_at) AS win_first,
           width_bucket(coalesce(p.medication_attended_at, '-infinity'), p.medication_missed_at) AS med_first,
           greatest(p.attended_at, {_local_midnight("p.intake_date")}) AS contact_since
    FROM p LEFT JOIN early ON early.patient_id = p.patient_id
),
per AS MATERIALIZED (
    SELECT p.patient_id, p.clinic_id, p.cm_first, p.win_first, p.med_first, p.missed_at, p.early_days,
           p.time_zone, p.early_missed__days,
           CASE WHEN cardinality(p.missed_at) - p.cm_first >= {_cfg("consecutive_missed", "high_at")} THEN 'high'
                WHEN cardinality(p.missed_at) - p.cm_first >= {_cfg("consecutive_missed", "medium_at")} THEN 'medium'
           END AS cm,
           CASE WHEN cardinality(p.missed_at) - p.win_first >= {_cfg("missed_in_window", "count")} THEN 'medium'
           END AS win,
           CASE WHEN p.early_days IS NOT NULL AND EXISTS ({_EARLY_WINDOW}) THEN 'high' END AS early,
           CASE WHEN cardinality(p.medication_missed_at) - p.med_first >= {_cfg("medication_missed", "count")}
                THEN 'high' END AS med,
           CASE WHEN p.status <> 'active' THEN NULL
                WHEN %(now)s - p.contact_since > {_days("no_contact", "high_days")} THEN 'high'
                WHEN %(now)s - p.contact_since >= {_days("no_contact", "medium_days")} THEN 'medium'
           END AS no_contact,
           CASE WHEN p.status <> 'discharged' OR p.discharge_date IS NULL
                     OR p.today - p.discharge_date > {_cfg("post_discharge_gap", "watch_days")} THEN NULL
                WHEN p.today > p.discharge_date + {_cfg("post_discharge_gap", "initiation_days")}
                     AND coalesce(discharge.initiation_n, 0) = 0 THEN 'high'
                WHEN p.today > p.discharge_date + {_cfg("post_discharge_gap", "engagement_days")}
                     AND coalesce(discharge.engagement_n, 0) < {_cfg("post_discharge_gap", "engagement_sessions")}
                     THEN 'medium'
           END AS discharge,
           discharge.evidence AS discharge_evidence
    FROM counted p
    LEFT JOIN discharge ON discharge.patient_id = p.patient_id
),
group_events AS (
    SELECT ga.patient_id, gs.group_id, gs.id, gs.starts_at, ga.status::text AS status, 'group_session'::text AS type
    FROM aftercare_groupmembership gm
    JOIN p ON p.patient_id = gm.patient_id
    JOIN aftercare_groupsession gs ON gs.group_id = gm.group_id AND NOT gs.cancelled
        AND gs.starts_at >= {_local_midnight("gm.joined_on")}
    JOIN aftercare_groupattendance ga ON ga.session_id = gs.id AND ga.patient_id = gm.patient_id
        AND ga.status IN ('attended', 'late', 'missed')
    WHERE gm.left_on IS NULL
),
group_streaks AS (
    SELECT e.patient_id, e.group_id, count(*) AS n, {_evidence("e")} AS evidence
    FROM group_events e
    WHERE e.status = 'missed' AND e.starts_at > coalesce((
        SELECT max(l.starts_at) FROM group_events l
        WHERE l.patient_id = e.patient_id AND l.group_id = e.group_id AND l.status IN {_ATTENDED}
    ), '-infinity')
    GROUP BY e.patient_id, e.group_id
)
{_FIRING}
UNION ALL
SELECT g.patient_id, p.clinic_id, 'group_dropout', 'medium',
       jsonb_agg(item ORDER BY item->>'starts_at', item->>'id')
FROM group_streaks g
JOIN p ON p.patient_id = g.patient_id
CROSS JOIN LATERAL jsonb_array_elements(g.evidence) AS item
WHERE g.n >= {_cfg("group_dropout", "count")}
GROUP BY g.patient_id, p.clinic_id
"""

_ACTIVE = "('open', 'acknowledged')"

# What the evaluation changes: each firing rule set against the open flag of its patient and rule.
# A full join (always hashed or merged, never a nested loop whatever the statistics say) keeps
# only the rows that need a write: a flag to raise, to update, or whose rule stopped firing.
_DIFF_SQL = f"""
CREATE TEMP TABLE risk_diff ON COMMIT DROP AS
SELECT * FROM (
    SELECT coalesce(r.patient_id, f.patient_id) AS patient_id, coalesce(r.rule, f.rule) AS rule, r.clinic_id,
           r.severity, r.evidence, f.id AS flag_id, f.severity AS old_severity,
           CASE WHEN f.id IS NULL THEN 'raise'
                WHEN r.rule IS NULL THEN CASE WHEN f.condition_met THEN 'lapsed' END
                WHEN {_rank("r.severity")} > {_rank("f.severity")} OR f.evidence <> r.evidence OR NOT f.condition_met
                    THEN 'update'
           END AS change
    FROM risk_result r
    FULL JOIN (
        SELECT f.id, f.patient_id, f.rule::text AS rule, f.severity, f.evidence, f.condition_met
        FROM aftercare_riskflag f JOIN clinic_patient pa ON pa.id = f.patient_id
        WHERE f.status IN {_ACTIVE} AND pa.clinic_id = ANY(%(clinics)s::uuid[])
          AND pa.status IN ('active', 'discharged') {{patients}} {{flag_patients}}
    ) AS f ON f.patient_id = r.patient_id AND f.rule = r.rule
) AS d
WHERE d.change IS NOT NULL
"""

# Open flags the rules still fire for, whose severity rose or whose evidence changed.
_UPDATE_SQL = f"""
WITH candidate AS (
    SELECT flag_id AS id, old_severity, severity AS new_severity, evidence FROM risk_diff WHERE change = 'update'
), updated AS (
    UPDATE aftercare_riskflag f
    SET severity = CASE WHEN {_rank("c.new_severity")} > {_rank("f.severity")} THEN c.new_severity ELSE f.severity END,
        evidence = c.evidence, condition_met = true, evidence_updated_at = %(now)s
    FROM candidate c
    WHERE f.id = c.id AND f.status IN {_ACTIVE}
    RETURNING f.id, f.severity
), history AS (
    INSERT INTO aftercare_riskflagevent (id, flag_id, kind, severity, evidence, condition_met, at, note)
    SELECT gen_random_uuid(), c.id,
           CASE WHEN {_rank("u.severity")} > {_rank("c.old_severity")} THEN 'escalated' ELSE 'evidence_changed' END,
           u.severity, c.evidence, true, %(now)s, ''
    FROM candidate c JOIN updated u ON u.id = c.id
)
SELECT u.id, {_rank("u.severity")} > {_rank("c.old_severity")} AS escalated, u.severity
FROM candidate c JOIN updated u ON u.id = c.id
"""

# Open flags whose rule no longer fires: kept, marked, and the change noted.
_LAPSED_SQL = f"""
WITH updated AS (
    UPDATE aftercare_riskflag f
    SET condition_met = false, evidence = '[]'::jsonb, evidence_updated_at = %(now)s
    FROM risk_diff d WHERE d.change = 'lapsed' AND f.id = d.flag_id AND f.status IN {_ACTIVE}
    RETURNING f.id, f.severity
)
INSERT INTO aftercare_riskflagevent (id, flag_id, kind, severity, evidence, condition_met, at, note)
SELECT gen_random_uuid(), u.id, 'evidence_changed', u.severity, '[]'::jsonb, false, %(now)s,
       'The rule no longer fires for this patient.'
FROM updated u
"""

# New flags: nothing new since the last one for the patient and rule was closed (a session after
# it was closed, or a higher severity than it had) means no new flag.
_RAISE_CANDIDATES_SQL = f"""
CREATE TEMP TABLE risk_raise ON COMMIT DROP AS
    SELECT r.patient_id, r.clinic_id, r.rule, r.severity, r.evidence FROM risk_diff r
    WHERE r.change = 'raise'
    AND NOT EXISTS (
        SELECT 1 FROM (
            SELECT c.severity, c.closed_at FROM aftercare_riskflag c
            WHERE c.patient_id = r.patient_id AND c.rule = r.rule AND c.status IN ('resolved', 'dismissed')
            ORDER BY c.closed_at DESC LIMIT 1
        ) AS closed
        WHERE {_rank("r.severity")} <= {_rank("closed.severity")}
          AND NOT EXISTS (
              SELECT 1 FROM jsonb_array_elements(r.evidence) AS item
              WHERE (item->>'starts_at')::timestamptz > closed.closed_at
          )
    )
"""

# A separate statement from the candidates': an INSERT that also reads the table it writes to
# can be planned as a scan over its own growing heap, quadratic in the rows it adds.
_RAISE_SQL = """
WITH raised AS (
    INSERT INTO aftercare_riskflag (id, created_at, updated_at, clinic_id, patient_id, rule, severity, status,
                                    evidence, condition_met, raised_at, evidence_updated_at, resolution_note)
    SELECT gen_random_uuid(), %(now)s, %(now)s, c.clinic_id, c.patient_id, c.rule, c.severity, 'open',
           c.evidence, true, %(now)s, %(now)s, ''
    FROM risk_raise c
    RETURNING id, severity, evidence
), history AS (
    INSERT INTO aftercare_riskflagevent (id, flag_id, kind, severity, evidence, condition_met, at, note)
    SELECT gen_random_uuid(), id, 'raised', severity, evidence, true, %(now)s, '' FROM raised
)
SELECT id, severity FROM raised
"""


@dataclass
class Evaluation:
    patients: int = 0
    raised: int = 0
    escalated: int = 0
    evidence_changed: int = 0
    lapsed: int = 0
    left_alone: int = 0
    # New or escalated high flags: their clinician is emailed once.
    notify: list[Any] = field(default_factory=list)


def clinic_configs(clinics: Iterable[Clinic]) -> dict[Any, dict[str, dict[str, int]]]:
    """Each clinic's enabled rules with their thresholds (its own, or the defaults)."""
    clinics = list(clinics)
    settings: dict[tuple[Any, str], RiskRuleSetting] = {
        (row.clinic_id, row.rule): row for row in RiskRuleSetting.objects.filter(clinic__in=clinics)
    }
    configs: dict[Any, dict[str, dict[str, int]]] = {}
    for clinic in clinics:
        config = {}
        for code, rule in RULES.items():
            row = settings.get((clinic.pk, code))
            if row is not None and not row.enabled:
                continue
            config[code] = {**rule.defaults(), **(row.thresholds if row is not None else {})}
        configs[clinic.pk] = config
    return configs


def risk_sweep(*, now: datetime.datetime | None = None) -> Evaluation:
    """The hourly sweep: every patient of every active clinic, clinic by clinic, so a clinic whose
    data the rules cannot be evaluated on fails the task after every other clinic's flags are up."""
    now = now or timezone.now()
    results = clinics_each(
        job="risk_sweep",
        clinics=Clinic.objects.filter(is_active=True).order_by("pk"),
        work=lambda clinic: evaluate(clinics=[clinic], now=now),
    )
    total = Evaluation()
    for result in results.values():
        for name in ("patients", "raised", "escalated", "evidence_changed", "lapsed", "left_alone"):
            setattr(total, name, getattr(total, name) + getattr(result, name))
        total.notify += result.notify
    return total


def evaluate(
    *,
    patient_ids: Iterable[Any] | None = None,
    clinics: Iterable[Clinic] | None = None,
    now: datetime.datetime | None = None,
) -> Evaluation:
    """Evaluate every rule for the given patients (all of them, of the given clinics or of every
    active one: a sweep) and apply the result."""
    now = now or timezone.now()
    configs = clinic_configs(Clinic.objects.filter(is_active=True) if clinics is None else clinics)
    ids = None if patient_ids is None else list(patient_ids)
    result = Evaluation()
    if not configs or ids == []:
        return result
    params: dict[str, Any] = {
        "now": now,
        "clinics": list(configs),
        "configs": [json.dumps(config) for config in configs.values()],
        "patients": ids,
    }
    scope = {
        "patients": "" if ids is None else "AND pa.id = ANY(%(patients)s::uuid[])",
        "plans": "" if ids is None else "AND pl.patient_id = ANY(%(patients)s::uuid[])",
        "flag_patients": "" if ids is None else "AND f.patient_id = ANY(%(patients)s::uuid[])",
    }
    # The flags written below are in the change history: its row triggers attach this context.
    with transaction.atomic(), pghistory.context(engine="risk"), connection.cursor() as cursor:
        cursor.execute(_LOCK)
        # pgtrigger's guard in every history trigger reads this setting and, when it is unset,
        # catches the error: a subtransaction per row written, each walking the queue of pending
        # foreign-key checks, quadratic in the flags raised (131 s instead of 3 for 50 000). Set
        # (to "ignore nothing"), it raises nothing.
        cursor.execute("SET LOCAL pgtrigger.ignore = '{}'")
        cursor.execute("SET LOCAL work_mem = '256MB'")  # the sweep's sorts and aggregates stay in memory
        # The estimates over unnest() are loose enough to make JIT compile for longer than the
        # whole sweep takes: off, for this transaction only.
        cursor.execute("SET LOCAL jit = off")
        # ON COMMIT DROP cleans up, but only at the outermost commit: an evaluation inside a
        # caller's transaction (or a second one in it) must not find the last one's tables.
        cursor.execute("DROP TABLE IF EXISTS pg_temp.risk_result, pg_temp.risk_diff, pg_temp.risk_raise")
        cursor.execute(
            "SELECT count(*) FROM clinic_patient pa WHERE pa.clinic_id = ANY(%(clinics)s::uuid[]) "
            f"AND pa.status IN ('active', 'discharged') {scope['patients']}",
            params,
        )
        result.patients = cursor.fetchone()[0]
        cursor.execute(_RULES_SQL.format(**scope), params)
        firing = cursor.rowcount
        # Right after a first sweep the flags' statistics still say "a few hundred": the planner
        # would look up the patient of each of tens of thousands of flags one by one. Hash joins.
        cursor.execute("SET LOCAL enable_nestloop = off")
        cursor.execute(_DIFF_SQL.format(patients=scope["patients"], flag_patients=scope["flag_patients"]), params)
        cursor.execute("SET LOCAL enable_nestloop = on")
        cursor.execute(_UPDATE_SQL, params)
        for flag_id, escalated, severity in cursor.fetchall():
            if escalated:
                result.escalated += 1
                if severity == Severity.HIGH:
                    result.notify.append(flag_id)
            else:
                result.evidence_changed += 1
        cursor.execute(_LAPSED_SQL, params)
        result.lapsed = cursor.rowcount
        cursor.execute(_RAISE_CANDIDATES_SQL, params)
        cursor.execute(_RAISE_SQL, params)
        for flag_id, severity in cursor.fetchall():
            result.raised += 1
            if severity == Severity.HIGH:
                result.notify.append(flag_id)
        result.left_alone = firing - result.raised - result.escalated - result.evidence_changed
        if result.notify:
            # In this transaction: the email goes out once the flags are committed, broker or not.
            outbox_enqueue(kind=OutboxKind.FLAGS_NOTIFY, payload={"flag_ids": [str(f) for f in result.notify]})
    return result
