"""Evaluating the risk rules as set-based SQL, and turning the result into flags.

One statement computes every rule for every patient in scope: the patient's sessions are read
once, two aggregates per patient give each rule its count and its evidence. The sweep's scope is
every active or discharged patient of every active clinic; the incremental path (after
attendance is recorded) runs the very same statement for the patients concerned, so the two
cannot disagree by construction, and `tests/aftercare/test_risk_engine.py` checks that they do
not on generated histories.

Applying the result is set-based too, in the same transaction: escalate or update the evidence of
open flags, note the ones whose rule stopped firing, raise new ones (unless a closed flag already
covered the same evidence). A transaction-level advisory lock serialises evaluations, so two
never raise the same flag; the partial unique index would refuse it anyway.
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

from django.db import connection, transaction
from django.utils import timezone

from aftercare.models import RiskRuleSetting, Severity
from aftercare.risk.rules import RULES
from clinic.models import Clinic

_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('aftercare.risk', 0))"
_RANK = "array_position(ARRAY['low','medium','high']::text[], {})"


def _rank(expression: str) -> str:
    return _RANK.format(expression)


def _cfg(rule: str, name: str) -> str:
    return f"(p.cfg->'{rule}'->>'{name}')::int"


def _days(rule: str, name: str) -> str:
    return f"make_interval(days => {_cfg(rule, name)})"


_EVIDENCE = (
    "jsonb_agg(jsonb_build_object('type', e.type, 'id', e.id, 'starts_at', e.starts_at, 'status', e.status)"
    " ORDER BY e.starts_at, e.id)"
)

# The patients in scope, with their clinic's configuration (only its enabled rules).
_SCOPE_SQL = """
CREATE TEMP TABLE risk_scope ON COMMIT DROP AS
SELECT pa.id AS patient_id, pa.clinic_id, pa.status, pa.intake_date, pa.discharge_date, c.time_zone,
       params.cfg, (%(now)s AT TIME ZONE c.time_zone)::date AS today
FROM clinic_patient pa
JOIN unnest(%(clinics)s::uuid[], %(configs)s::jsonb[]) AS params(clinic_id, cfg) ON params.clinic_id = pa.clinic_id
JOIN clinic_clinic c ON c.id = pa.clinic_id
WHERE pa.status IN ('active', 'discharged') {patients}
"""

_RULES_SQL = f"""
CREATE TEMP TABLE risk_result ON COMMIT DROP AS
WITH ev AS MATERIALIZED (
    SELECT a.patient_id, 'appointment'::text AS type, a.id, a.starts_at, a.attendance_status::text AS status,
           a.kind = 'medication' AS medication, NULL::uuid AS group_id,
           a.attendance_status IN ('attended', 'late') AS attended,
           a.attendance_status IN ('missed', 'late_cancelled') AS missed,
           (a.starts_at AT TIME ZONE s.time_zone)::date AS local_date
    FROM aftercare_appointment a JOIN risk_scope s ON s.patient_id = a.patient_id
    WHERE a.attendance_status IN ('attended', 'late', 'missed', 'late_cancelled')
    UNION ALL
    SELECT ga.patient_id, 'group_session', gs.id, gs.starts_at, ga.status::text, false, gs.group_id,
           ga.status IN ('attended', 'late'), ga.status = 'missed',
           (gs.starts_at AT TIME ZONE s.time_zone)::date
    FROM aftercare_groupattendance ga
    JOIN aftercare_groupsession gs ON gs.id = ga.session_id AND NOT gs.cancelled
    JOIN risk_scope s ON s.patient_id = ga.patient_id
    WHERE ga.status IN ('attended', 'late', 'missed')
),
last AS (
    SELECT patient_id,
           max(starts_at) FILTER (WHERE attended) AS attended_at,
           max(starts_at) FILTER (WHERE attended AND medication) AS medication_attended_at
    FROM ev GROUP BY patient_id
),
early AS (
    -- Where "early" starts: the active plan's start and each of its medication starts.
    SELECT pl.patient_id, array_agg(starts.day) AS days
    FROM aftercare_aftercareplan pl
    JOIN risk_scope s ON s.patient_id = pl.patient_id
    CROSS JOIN LATERAL (
        SELECT pl.start_date
        UNION ALL
        SELECT act.medication_started_on FROM aftercare_planactivity act
        WHERE act.plan_id = pl.id AND act.kind = 'medication'
    ) AS starts(day)
    WHERE pl.status = 'active' AND starts.day IS NOT NULL
    GROUP BY pl.patient_id
),
per AS (
    SELECT e.patient_id,
        count(*) FILTER (WHERE e.missed AND e.starts_at > coalesce(l.attended_at, '-infinity')) AS cm_n,
        {_EVIDENCE} FILTER (WHERE e.missed AND e.starts_at > coalesce(l.attended_at, '-infinity')) AS cm_ev,
        count(*) FILTER (WHERE e.missed AND e.starts_at > %(now)s - {_days("missed_in_window", "days")}) AS win_n,
        {_EVIDENCE} FILTER (WHERE e.missed AND e.starts_at > %(now)s - {_days("missed_in_window", "days")}) AS win_ev,
        {_EVIDENCE} FILTER (WHERE e.missed AND EXISTS (
            SELECT 1 FROM unnest(x.days) AS start(day)
            WHERE e.local_date >= start.day AND e.local_date < start.day + {_cfg("early_missed", "days")}
        )) AS early_ev,
        count(*) FILTER (
            WHERE e.missed AND e.medication AND e.starts_at > coalesce(l.medication_attended_at, '-infinity')
        ) AS med_n,
        {_EVIDENCE} FILTER (
            WHERE e.missed AND e.medication AND e.starts_at > coalesce(l.medication_attended_at, '-infinity')
        ) AS med_ev,
        {_EVIDENCE} FILTER (WHERE e.attended AND e.starts_at = l.attended_at) AS nc_ev,
        count(*) FILTER (
            WHERE e.attended AND e.local_date BETWEEN p.discharge_date
                AND p.discharge_date + {_cfg("post_discharge_gap", "initiation_days")}
        ) AS pd_initiation_n,
        count(*) FILTER (
            WHERE e.attended AND e.local_date BETWEEN p.discharge_date
                AND p.discharge_date + {_cfg("post_discharge_gap", "engagement_days")}
        ) AS pd_engagement_n,
        {_EVIDENCE} FILTER (
            WHERE e.attended AND e.local_date BETWEEN p.discharge_date
                AND p.discharge_date + {_cfg("post_discharge_gap", "engagement_days")}
        ) AS pd_ev
    FROM ev e
    JOIN risk_scope p ON p.patient_id = e.patient_id
    JOIN last l ON l.patient_id = e.patient_id
    LEFT JOIN early x ON x.patient_id = e.patient_id
    GROUP BY e.patient_id
),
group_events AS (
    SELECT e.*
    FROM ev e
    JOIN aftercare_groupmembership m
      ON m.patient_id = e.patient_id AND m.group_id = e.group_id AND m.left_on IS NULL AND e.local_date >= m.joined_on
    WHERE e.type = 'group_session'
),
group_last AS (
    SELECT patient_id, group_id, max(starts_at) FILTER (WHERE attended) AS attended_at
    FROM group_events GROUP BY patient_id, group_id
),
group_streaks AS (
    SELECT e.patient_id, e.group_id, count(*) AS n, {_EVIDENCE} AS evidence
    FROM group_events e JOIN group_last l ON l.patient_id = e.patient_id AND l.group_id = e.group_id
    WHERE e.missed AND e.starts_at > coalesce(l.attended_at, '-infinity')
    GROUP BY e.patient_id, e.group_id
)
SELECT p.patient_id, p.clinic_id, r.rule, r.severity, coalesce(r.evidence, '[]'::jsonb) AS evidence
FROM risk_scope p
LEFT JOIN per ON per.patient_id = p.patient_id
LEFT JOIN last l ON l.patient_id = p.patient_id
CROSS JOIN LATERAL (
    SELECT greatest(l.attended_at, p.intake_date::timestamp AT TIME ZONE p.time_zone) AS since
) AS contact
CROSS JOIN LATERAL (VALUES
    ('consecutive_missed',
     CASE WHEN per.cm_n >= {_cfg("consecutive_missed", "high_at")} THEN 'high'
          WHEN per.cm_n >= {_cfg("consecutive_missed", "medium_at")} THEN 'medium' END,
     per.cm_ev),
    ('missed_in_window',
     CASE WHEN per.win_n >= {_cfg("missed_in_window", "count")} THEN 'medium' END,
     per.win_ev),
    ('early_missed',
     CASE WHEN per.early_ev IS NOT NULL THEN 'high' END,
     per.early_ev),
    ('medication_missed',
     CASE WHEN per.med_n >= {_cfg("medication_missed", "count")} THEN 'high' END,
     per.med_ev),
    ('no_contact',
     CASE WHEN p.status <> 'active' THEN NULL
          WHEN %(now)s - contact.since > {_days("no_contact", "high_days")} THEN 'high'
          WHEN %(now)s - contact.since >= {_days("no_contact", "medium_days")} THEN 'medium' END,
     per.nc_ev),
    ('post_discharge_gap',
     CASE WHEN p.status <> 'discharged' OR p.discharge_date IS NULL
               OR p.today - p.discharge_date > {_cfg("post_discharge_gap", "watch_days")} THEN NULL
          WHEN p.today > p.discharge_date + {_cfg("post_discharge_gap", "initiation_days")}
               AND coalesce(per.pd_initiation_n, 0) = 0 THEN 'high'
          WHEN p.today > p.discharge_date + {_cfg("post_discharge_gap", "engagement_days")}
               AND coalesce(per.pd_engagement_n, 0) < {_cfg("post_discharge_gap", "engagement_sessions")}
               THEN 'medium' END,
     per.pd_ev)
) AS r(rule, severity, evidence)
WHERE r.severity IS NOT NULL
UNION ALL
SELECT g.patient_id, p.clinic_id, 'group_dropout', 'medium',
       jsonb_agg(item ORDER BY item->>'starts_at', item->>'id')
FROM group_streaks g
JOIN risk_scope p ON p.patient_id = g.patient_id
CROSS JOIN LATERAL jsonb_array_elements(g.evidence) AS item
WHERE g.n >= {_cfg("group_dropout", "count")}
GROUP BY g.patient_id, p.clinic_id
"""

_ACTIVE = "('open', 'acknowledged')"

# Open flags the rules still fire for, whose severity rose or whose evidence changed.
_UPDATE_SQL = f"""
WITH candidate AS (
    SELECT f.id, f.severity AS old_severity, r.severity AS new_severity, r.evidence
    FROM aftercare_riskflag f
    JOIN risk_result r ON r.patient_id = f.patient_id AND r.rule = f.rule
    WHERE f.status IN {_ACTIVE}
      AND ({_rank("r.severity")} > {_rank("f.severity")} OR f.evidence <> r.evidence OR NOT f.condition_met)
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

# Open flags of patients in scope whose rule no longer fires: kept, marked, and the change noted.
_LAPSED_SQL = f"""
WITH candidate AS (
    SELECT f.id, f.severity
    FROM aftercare_riskflag f JOIN risk_scope s ON s.patient_id = f.patient_id
    WHERE f.status IN {_ACTIVE} AND f.condition_met
      AND NOT EXISTS (SELECT 1 FROM risk_result r WHERE r.patient_id = f.patient_id AND r.rule = f.rule)
), updated AS (
    UPDATE aftercare_riskflag f
    SET condition_met = false, evidence = '[]'::jsonb, evidence_updated_at = %(now)s
    FROM candidate c WHERE f.id = c.id AND f.status IN {_ACTIVE}
    RETURNING f.id, f.severity
)
INSERT INTO aftercare_riskflagevent (id, flag_id, kind, severity, evidence, condition_met, at, note)
SELECT gen_random_uuid(), u.id, 'evidence_changed', u.severity, '[]'::jsonb, false, %(now)s,
       'The rule no longer fires for this patient.'
FROM updated u
"""

# New flags: no open one for the patient and rule, and nothing new since the last one was closed
# (a session after it was closed, or a higher severity than it had).
_RAISE_SQL = f"""
WITH candidate AS (
    SELECT r.* FROM risk_result r
    WHERE NOT EXISTS (
        SELECT 1 FROM aftercare_riskflag f
        WHERE f.patient_id = r.patient_id AND f.rule = r.rule AND f.status IN {_ACTIVE}
    )
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
), raised AS (
    INSERT INTO aftercare_riskflag (id, created_at, updated_at, clinic_id, patient_id, rule, severity, status,
                                    evidence, condition_met, raised_at, evidence_updated_at, resolution_note)
    SELECT gen_random_uuid(), %(now)s, %(now)s, c.clinic_id, c.patient_id, c.rule, c.severity, 'open',
           c.evidence, true, %(now)s, %(now)s, ''
    FROM candidate c
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


def evaluate(*, patient_ids: Iterable[Any] | None = None, now: datetime.datetime | None = None) -> Evaluation:
    """Evaluate every rule for the given patients (all of them: the sweep) and apply the result."""
    now = now or timezone.now()
    configs = clinic_configs(Clinic.objects.filter(is_active=True))
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
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_LOCK)
        cursor.execute("SET LOCAL work_mem = '64MB'")  # the sweep's aggregates stay in memory
        # ON COMMIT DROP cleans up, but only at the outermost commit: an evaluation inside a
        # caller's transaction (or a second one in it) must not find the last one's tables.
        cursor.execute("DROP TABLE IF EXISTS pg_temp.risk_scope, pg_temp.risk_result")
        cursor.execute(
            _SCOPE_SQL.format(patients="" if ids is None else "AND pa.id = ANY(%(patients)s::uuid[])"), params
        )
        result.patients = cursor.rowcount
        cursor.execute("ANALYZE risk_scope")
        cursor.execute(_RULES_SQL, params)
        firing = cursor.rowcount
        cursor.execute("ANALYZE risk_result")
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
        cursor.execute(_RAISE_SQL, params)
        for flag_id, severity in cursor.fetchall():
            result.raised += 1
            if severity == Severity.HIGH:
                result.notify.append(flag_id)
        result.left_alone = firing - result.raised - result.escalated - result.evidence_changed
        if result.notify:
            from tasks.risk import flags_notify

            notify = [str(flag_id) for flag_id in result.notify]
            transaction.on_commit(lambda: flags_notify.delay(notify))
    return result
