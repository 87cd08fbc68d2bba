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

from aftercare.models import SEVERITY_RANK, RiskRuleSetting, Severity
from aftercare.risk.rules import RULES
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
    return f"(p.cfg->'{rule}'->>'{name}')::int"


def _days(rule: str, name: str) -> str:
    return f"make_interval(days => {_cfg(rule, name)})"


_ATTENDED = "('attended', 'late')"
_MISSED = "('missed', 'late_cancelled')"


def _evidence(alias: str) -> str:
    return (
        f"jsonb_agg(jsonb_build_object('type', {alias}.type, 'id', {alias}.id, 'starts_at', {alias}.starts_at, "
        f"'status', {alias}.status) ORDER BY {alias}.starts_at, {alias}.id)"
    )


def _local_midnight(day: str) -> str:
    """The instant a clinic-local date begins (windows are compared on instants, not per row)."""
    return f"(({day})::timestamp AT TIME ZONE p.time_zone)"


# Attended sessions of one patient between two instants: an index range scan, run only for the few
# patients a rule needs it for (the last attended session, the weeks after discharge).
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

# A patient's missed sessions, from the arrays `per` holds: only read again for a rule that fires.
_MISSED_ITEMS = """
    SELECT 'appointment'::text AS type, x.starts_at, x.id, x.status, x.medication
    FROM unnest(p.missed_at, p.missed_id, p.missed_status, p.missed_medication) AS x(starts_at, id, status, medication)
    UNION ALL
    SELECT 'group_session', y.starts_at, y.id, 'missed', false
    FROM unnest(p.group_missed_at, p.group_missed_id) AS y(starts_at, id)
"""


def _missed_evidence(condition: str) -> str:
    return f"(SELECT {_evidence('m')} FROM ({_MISSED_ITEMS}) AS m WHERE {condition})"


_CM = "m.starts_at > coalesce(p.attended_at, '-infinity')"
_EARLY = (
    "EXISTS (SELECT 1 FROM unnest(p.early_days) AS start(day) "
    f"WHERE m.starts_at >= {_local_midnight('start.day')} "
    f"AND m.starts_at < {_local_midnight('start.day + ' + _cfg('early_missed', 'days'))})"
)
_MED = "m.medication AND m.starts_at > coalesce(p.medication_attended_at, '-infinity')"
_WINDOW = f"m.starts_at > %(now)s - {_days('missed_in_window', 'days')}"

# One pass over each patient's sessions: the last attended one and the missed ones (as arrays,
# a few per patient), aggregated in parallel. Every rule is then computed per patient from these.
_RULES_SQL = f"""
CREATE TEMP TABLE risk_result ON COMMIT DROP AS
WITH p AS MATERIALIZED (
    SELECT pa.id AS patient_id, pa.clinic_id, pa.status, params.cfg, c.time_zone, pa.discharge_date,
           (%(now)s AT TIME ZONE c.time_zone)::date AS today,
           pa.intake_date::timestamp AT TIME ZONE c.time_zone AS intake_at
    FROM clinic_patient pa
    JOIN unnest(%(clinics)s::uuid[], %(configs)s::jsonb[]) AS params(clinic_id, cfg) ON params.clinic_id = pa.clinic_id
    JOIN clinic_clinic c ON c.id = pa.clinic_id
    WHERE pa.status IN ('active', 'discharged') {{patients}}
),
appt AS (
    SELECT a.patient_id,
           max(a.starts_at) FILTER (WHERE a.attendance_status IN {_ATTENDED}) AS attended_at,
           max(a.starts_at) FILTER (WHERE a.attendance_status IN {_ATTENDED} AND a.kind = 'medication')
               AS medication_attended_at,
           array_agg(a.starts_at) FILTER (WHERE a.attendance_status IN {_MISSED}) AS missed_at,
           array_agg(a.id) FILTER (WHERE a.attendance_status IN {_MISSED}) AS missed_id,
           array_agg(a.attendance_status::text) FILTER (WHERE a.attendance_status IN {_MISSED}) AS missed_status,
           array_agg(a.kind = 'medication') FILTER (WHERE a.attendance_status IN {_MISSED}) AS missed_medication
    FROM aftercare_appointment a
    WHERE a.attendance_status IN ('attended', 'late', 'missed', 'late_cancelled') {{appointments}}
    GROUP BY a.patient_id
),
grp AS (
    SELECT ga.patient_id,
           max(gs.starts_at) FILTER (WHERE ga.status IN {_ATTENDED}) AS attended_at,
           array_agg(gs.starts_at) FILTER (WHERE ga.status = 'missed') AS missed_at,
           array_agg(gs.id) FILTER (WHERE ga.status = 'missed') AS missed_id
    FROM aftercare_groupattendance ga JOIN aftercare_groupsession gs ON gs.id = ga.session_id AND NOT gs.cancelled
    WHERE ga.status IN ('attended', 'late', 'missed') {{group_attendance}}
    GROUP BY ga.patient_id
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
per AS (
    SELECT p.*, appt.medication_attended_at, early.days AS early_days,
           greatest(appt.attended_at, grp.attended_at) AS attended_at,
           appt.missed_at, appt.missed_id, appt.missed_status, appt.missed_medication,
           grp.missed_at AS group_missed_at, grp.missed_id AS group_missed_id,
           appt.missed_at || grp.missed_at AS all_missed_at,
           appt.missed_medication || array_fill(false, ARRAY[coalesce(cardinality(grp.missed_at), 0)])
               AS all_missed_medication
    FROM p
    LEFT JOIN appt ON appt.patient_id = p.patient_id
    LEFT JOIN grp ON grp.patient_id = p.patient_id
    LEFT JOIN early ON early.patient_id = p.patient_id
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
SELECT p.patient_id, p.clinic_id, r.rule, r.severity, coalesce(r.evidence, '[]'::jsonb) AS evidence,
       p.attended_at
FROM per p
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE {_CM}) AS cm_n,
           count(*) FILTER (WHERE {_WINDOW}) AS win_n,
           count(*) FILTER (WHERE {_EARLY}) AS early_n,
           count(*) FILTER (WHERE {_MED}) AS med_n
    FROM unnest(p.all_missed_at, p.all_missed_medication) AS m(starts_at, medication)
) AS missed
CROSS JOIN LATERAL (
    SELECT CASE WHEN missed.cm_n >= {_cfg("consecutive_missed", "high_at")} THEN 'high'
                WHEN missed.cm_n >= {_cfg("consecutive_missed", "medium_at")} THEN 'medium' END AS cm,
           CASE WHEN missed.win_n >= {_cfg("missed_in_window", "count")} THEN 'medium' END AS win,
           CASE WHEN missed.early_n > 0 THEN 'high' END AS early,
           CASE WHEN missed.med_n >= {_cfg("medication_missed", "count")} THEN 'high' END AS med
) AS sev
LEFT JOIN LATERAL (
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
    WHERE p.status = 'discharged' AND p.discharge_date IS NOT NULL
      AND p.today - p.discharge_date <= {_cfg("post_discharge_gap", "watch_days")}
) AS discharge ON true
CROSS JOIN LATERAL (
    SELECT greatest(p.attended_at, p.intake_at) AS since
) AS contact
CROSS JOIN LATERAL (VALUES
    ('consecutive_missed', sev.cm, CASE WHEN sev.cm IS NOT NULL THEN {_missed_evidence(_CM)} END),
    ('missed_in_window', sev.win, CASE WHEN sev.win IS NOT NULL THEN {_missed_evidence(_WINDOW)} END),
    ('early_missed', sev.early, CASE WHEN sev.early IS NOT NULL THEN {_missed_evidence(_EARLY)} END),
    ('medication_missed', sev.med, CASE WHEN sev.med IS NOT NULL THEN {_missed_evidence(_MED)} END),
    ('no_contact',
     CASE WHEN p.status <> 'active' THEN NULL
          WHEN %(now)s - contact.since > {_days("no_contact", "high_days")} THEN 'high'
          WHEN %(now)s - contact.since >= {_days("no_contact", "medium_days")} THEN 'medium' END,
     NULL),
    ('post_discharge_gap',
     CASE WHEN p.status <> 'discharged' OR p.discharge_date IS NULL
               OR p.today - p.discharge_date > {_cfg("post_discharge_gap", "watch_days")} THEN NULL
          WHEN p.today > p.discharge_date + {_cfg("post_discharge_gap", "initiation_days")}
               AND coalesce(discharge.initiation_n, 0) = 0 THEN 'high'
          WHEN p.today > p.discharge_date + {_cfg("post_discharge_gap", "engagement_days")}
               AND coalesce(discharge.engagement_n, 0) < {_cfg("post_discharge_gap", "engagement_sessions")}
               THEN 'medium' END,
     discharge.evidence)
) AS r(rule, severity, evidence)
WHERE r.severity IS NOT NULL
UNION ALL
SELECT g.patient_id, p.clinic_id, 'group_dropout', 'medium',
       jsonb_agg(item ORDER BY item->>'starts_at', item->>'id'), NULL
FROM group_streaks g
JOIN p ON p.patient_id = g.patient_id
CROSS JOIN LATERAL jsonb_array_elements(g.evidence) AS item
WHERE g.n >= {_cfg("group_dropout", "count")}
GROUP BY g.patient_id, p.clinic_id
"""

# no_contact's evidence (the last attended session), looked up only for the patients it fires for.
_NO_CONTACT_EVIDENCE_SQL = f"""
UPDATE risk_result p
SET evidence = coalesce((
    SELECT {_evidence("x")}
    FROM ({_ATTENDED_BETWEEN.format(since="p.attended_at", until="p.attended_at")}) AS x
), '[]'::jsonb)
WHERE p.rule = 'no_contact' AND p.attended_at IS NOT NULL
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
    FROM aftercare_riskflag f JOIN clinic_patient pa ON pa.id = f.patient_id
    WHERE f.status IN {_ACTIVE} AND f.condition_met
      AND pa.clinic_id = ANY(%(clinics)s::uuid[]) AND pa.status IN ('active', 'discharged') {{patients}}
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
_RAISE_CANDIDATES_SQL = f"""
CREATE TEMP TABLE risk_raise ON COMMIT DROP AS
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
    scope = {
        "patients": "" if ids is None else "AND pa.id = ANY(%(patients)s::uuid[])",
        "appointments": "" if ids is None else "AND a.patient_id = ANY(%(patients)s::uuid[])",
        "group_attendance": "" if ids is None else "AND ga.patient_id = ANY(%(patients)s::uuid[])",
        "plans": "" if ids is None else "AND pl.patient_id = ANY(%(patients)s::uuid[])",
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_LOCK)
        cursor.execute("SET LOCAL work_mem = '256MB'")  # the sweep's sorts and aggregates stay in memory
        # The estimates over unnest() are loose enough to make JIT compile for longer than the
        # whole sweep takes: off, for this transaction only.
        cursor.execute("SET LOCAL jit = off")
        # ON COMMIT DROP cleans up, but only at the outermost commit: an evaluation inside a
        # caller's transaction (or a second one in it) must not find the last one's tables.
        cursor.execute("DROP TABLE IF EXISTS pg_temp.risk_result, pg_temp.risk_raise")
        cursor.execute(
            "SELECT count(*) FROM clinic_patient pa WHERE pa.clinic_id = ANY(%(clinics)s::uuid[]) "
            f"AND pa.status IN ('active', 'discharged') {scope['patients']}",
            params,
        )
        result.patients = cursor.fetchone()[0]
        cursor.execute(_RULES_SQL.format(**scope), params)
        firing = cursor.rowcount
        cursor.execute(_NO_CONTACT_EVIDENCE_SQL, params)
        cursor.execute(_UPDATE_SQL, params)
        for flag_id, escalated, severity in cursor.fetchall():
            if escalated:
                result.escalated += 1
                if severity == Severity.HIGH:
                    result.notify.append(flag_id)
            else:
                result.evidence_changed += 1
        cursor.execute(_LAPSED_SQL.format(patients=scope["patients"]), params)
        result.lapsed = cursor.rowcount
        cursor.execute(_RAISE_CANDIDATES_SQL, params)
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
