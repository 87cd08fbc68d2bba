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


# Each clinic's thresholds, one integer column per rule and threshold.
_THRESHOLD_COLUMNS = ",\n           ".join(
    f"(params.cfg->'{code}'->>'{name}')::int AS {code}__{name}"
    for code, rule in RULES.items()
    for name in rule.defaults()
)


def _rules_sql() -> str:
    """Every rule for every patient in scope, as one statement built from the rules' own SQL
    (aftercare/risk/rules/): `p` is each patient with their clinic's thresholds and risk summary;
    each rule's expressions and columns are joined on; `per` decides every rule for every patient
    (per patient, a count is a binary search in a sorted timeline); then one filtered scan per
    rule yields its firing rows with their evidence, built only for a rule that fires.

    `{patients}` and `{plans}` are left in for the scope (every patient, or the ones given)."""
    rules = list(RULES.values())
    ctes = {name: sql for rule in rules for name, sql in rule.ctes().items()}
    columns = {name: sql for rule in rules for name, sql in rule.columns().items()}
    clash = set(columns) & set(RULES)
    if clash:  # a rule's decision is the column named by its code
        raise ValueError(f"columns named as rules: {sorted(clash)}")
    # Rules of one kind share their expressions, joins and columns: each comes in once.
    joins = list(dict.fromkeys(join for rule in rules for join in rule.joins()))
    firing = [
        rule.firing()
        or f"SELECT p.patient_id, p.clinic_id, '{rule.code}' AS rule, p.{rule.code} AS severity, "
        f"{rule.evidence()} AS evidence "
        f"FROM per p LEFT JOIN aftercare_risksummary s ON s.patient_id = p.patient_id WHERE p.{rule.code} IS NOT NULL"
        for rule in rules
    ]
    extra = "".join(f"{name} AS ({sql}\n),\n" for name, sql in ctes.items())
    added = "".join(f",\n           {sql} AS {name}" for name, sql in columns.items())
    decided = ",\n           ".join(f"{rule.decides()} AS {rule.code}" for rule in rules)
    union = "\nUNION ALL\n".join(firing)
    return f"""
CREATE TEMP TABLE risk_result ON COMMIT DROP AS
WITH cfg AS MATERIALIZED (
    SELECT params.clinic_id, c.time_zone, (%(now)s AT TIME ZONE c.time_zone)::date AS today,
           {_THRESHOLD_COLUMNS}
    FROM unnest(%(clinics)s::uuid[], %(configs)s::jsonb[]) AS params(clinic_id, cfg)
    JOIN clinic_clinic c ON c.id = params.clinic_id
),
p AS MATERIALIZED (
    SELECT pa.id AS patient_id, pa.status, pa.discharge_date, pa.intake_date, cfg.*,
           s.attended_at, coalesce(s.attended_times, '{{}}') AS attended_times, s.medication_attended_at,
           coalesce(s.missed_at, '{{}}') AS missed_at, coalesce(s.medication_missed_at, '{{}}') AS medication_missed_at,
           s.individual_attended_at, coalesce(s.individual_missed_at, '{{}}') AS individual_missed_at,
           s.group_attended_at, coalesce(s.group_missed_at, '{{}}') AS group_missed_at
    FROM clinic_patient pa
    JOIN cfg ON cfg.clinic_id = pa.clinic_id
    LEFT JOIN aftercare_risksummary s ON s.patient_id = pa.id
    WHERE pa.status IN ('active', 'discharged') {{patients}}
),
{extra}counted AS (
    SELECT p.*{added}
    FROM p {" ".join(joins)}
),
per AS MATERIALIZED (
    SELECT p.*,
           {decided}
    FROM counted p
)
{union}
"""


_RULES_SQL = _rules_sql()

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
    RETURNING f.id, f.severity, %(lapsed_notes)s::jsonb ->> f.rule AS note
)
INSERT INTO aftercare_riskflagevent (id, flag_id, kind, severity, evidence, condition_met, at, note)
SELECT gen_random_uuid(), u.id, 'evidence_changed', u.severity, '[]'::jsonb, false, %(now)s, u.note
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
        # What each rule writes on a flag when it stops holding.
        "lapsed_notes": json.dumps({code: rule.lapsed_note for code, rule in RULES.items()}),
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
        cursor.execute(_RULES_SQL.replace("{patients}", scope["patients"]).replace("{plans}", scope["plans"]), params)
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
