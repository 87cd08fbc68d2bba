"""SQL pieces the rules and the engine share, over the engine's per-patient rows.

In the rules' SQL, `p` is one patient's row: the patient (`patient_id`, `clinic_id`, `status`,
`intake_date`, `discharge_date`), the clinic (`time_zone`, `today` as a clinic-local date), the
clinic's thresholds (`<rule>__<threshold>`, see `Rule.cfg`) and their risk summary
(aftercare/models/summary.py: `attended_at`, `attended_times`, `missed_at`, and the medication
timelines), plus the columns each rule adds. `s` is the summary row itself, for evidence.
`%(now)s` is the moment evaluated.
"""

# Every fragment is assembled from this project's constants; values are query parameters.
# ruff: noqa: S608

from __future__ import annotations

from aftercare.models.outcomes import Outcome, SqlOutcomes

MICROSECOND = "interval '1 microsecond'"


def local_midnight(day: str) -> str:
    """The instant a clinic-local date begins (windows are compared on instants, not per row)."""
    return f"(({day})::timestamp AT TIME ZONE p.time_zone)"


def after(timeline: str, instant: str) -> str:
    """How many entries of a sorted timeline come after `instant`: a binary search, no unnest."""
    return f"(cardinality({timeline}) - width_bucket({instant}, {timeline}))"


def evidence_slice(items: str, first: str) -> str:
    """The evidence items from the 0-based position `first` on."""
    return f"jsonb_path_query_array({items}, '$[$first to last]', jsonb_build_object('first', {first}))"


def evidence_of(alias: str) -> str:
    """Session rows `alias` (type, id, starts_at, status) as a flag's evidence, in order."""
    return (
        f"jsonb_agg(jsonb_build_object('type', {alias}.type, 'id', {alias}.id, 'starts_at', {alias}.starts_at, "
        f"'status', {alias}.status) ORDER BY {alias}.starts_at, {alias}.id)"
    )


def attended_between(since: str, until: str) -> str:
    """Attended sessions of the patient `p` between two instants: an index range scan, run only
    for the patients a rule needs it for."""
    return f"""
    SELECT 'appointment'::text AS type, a.id, a.starts_at, a.attendance_status::text AS status
    FROM aftercare_appointment a
    WHERE a.patient_id = p.patient_id AND a.attendance_status IN {SqlOutcomes.appointment(Outcome.ATTENDED)}
      AND a.starts_at >= {since} AND a.starts_at <= {until}
    UNION ALL
    SELECT 'group_session', gs.id, gs.starts_at, ga.status::text
    FROM aftercare_groupattendance ga JOIN aftercare_groupsession gs ON gs.id = ga.session_id AND NOT gs.cancelled
    WHERE ga.patient_id = p.patient_id AND ga.status IN {SqlOutcomes.group(Outcome.ATTENDED)}
      AND gs.starts_at >= {since} AND gs.starts_at <= {until}
"""
