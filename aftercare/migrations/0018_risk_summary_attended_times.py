"""Risk summaries keep every attended session's start (`attended_times`), so a rule can count the
sessions attended since a moment (an early miss followed by re-engagement).

The refresh function is installed as `aftercare/models/sql/risk_summary_refresh.sql` rendered on the
day of this migration: a migration carries the SQL it installs, as every migration carries its own
schema, so replaying history never runs a later definition against an earlier schema.
`tests/aftercare/test_outcomes.py` fails while the installed function differs from the file as
rendered today; a change to either comes with a migration like this one.
"""

import importlib

import django.contrib.postgres.fields
from django.db import migrations, models

# Going back: the function as 0007 installed it, before it wrote `attended_times`.
PREVIOUS_FUNCTION = importlib.import_module("aftercare.migrations.0007_risk_summary").REFRESH_FUNCTION

REFRESH_FUNCTION = """
CREATE OR REPLACE FUNCTION aftercare_risk_summary_refresh(patients uuid[]) RETURNS void
LANGUAGE plpgsql
-- Evidence carries instants as JSON text: always in UTC, whatever the writer's session says.
SET timezone = 'UTC'
-- Each call planned with `patients` known (below), never one generic plan for every call.
SET plan_cache_mode = 'force_custom_plan'
AS $$
BEGIN
    IF patients IS NULL THEN
        -- Every patient: after a bulk load that bypassed the triggers, or to check them.
        DELETE FROM aftercare_risksummary;
    ELSIF cardinality(patients) = 0 THEN
        RETURN;
    ELSE
        -- Refreshes of one patient take turns: the second waits for the first to commit, then
        -- reads (a new snapshot per statement) the sessions both wrote.
        PERFORM 1 FROM clinic_patient WHERE id = ANY(patients) ORDER BY id FOR NO KEY UPDATE;
        DELETE FROM aftercare_risksummary WHERE patient_id = ANY(patients);
    END IF;
    -- Planned with `patients` known: a refresh of a few patients reads them by index, a rebuild
    -- scans once.
    INSERT INTO aftercare_risksummary (patient_id, attended_at, attended, attended_times, medication_attended_at,
                                       missed_at, missed, medication_missed_at, medication_missed)
    WITH sessions AS (
        SELECT a.patient_id, 'appointment'::text AS type, a.id, a.starts_at, a.attendance_status::text AS status,
               a.kind = 'medication' AS medication, a.attendance_status IN ('missed', 'late_cancelled') AS missed
        FROM aftercare_appointment a
        WHERE a.attendance_status IN ('attended', 'late', 'missed', 'late_cancelled')
          AND (patients IS NULL OR a.patient_id = ANY(patients))
        UNION ALL
        SELECT ga.patient_id, 'group_session', gs.id, gs.starts_at, ga.status::text, false,
               ga.status IN ('missed')
        FROM aftercare_groupattendance ga
        JOIN aftercare_groupsession gs ON gs.id = ga.session_id AND NOT gs.cancelled
        WHERE ga.status IN ('attended', 'late', 'missed')
          AND (patients IS NULL OR ga.patient_id = ANY(patients))
    ), marked AS (
        SELECT s.*, jsonb_build_object('type', s.type, 'id', s.id, 'starts_at', s.starts_at, 'status', s.status) AS item,
               max(s.starts_at) FILTER (WHERE NOT s.missed) OVER (PARTITION BY s.patient_id) AS last_attended
        FROM sessions s
    )
    SELECT patient_id, max(last_attended),
           coalesce(jsonb_agg(item ORDER BY starts_at, id) FILTER (WHERE NOT missed AND starts_at = last_attended), '[]'),
           coalesce(array_agg(starts_at ORDER BY starts_at, id) FILTER (WHERE NOT missed), '{}'),
           max(starts_at) FILTER (WHERE NOT missed AND medication),
           coalesce(array_agg(starts_at ORDER BY starts_at, id) FILTER (WHERE missed), '{}'),
           coalesce(jsonb_agg(item ORDER BY starts_at, id) FILTER (WHERE missed), '[]'),
           coalesce(array_agg(starts_at ORDER BY starts_at, id) FILTER (WHERE missed AND medication), '{}'),
           coalesce(jsonb_agg(item ORDER BY starts_at, id) FILTER (WHERE missed AND medication), '[]')
    FROM marked
    GROUP BY patient_id;
END;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("aftercare", "0017_checkins"),
    ]

    operations = [
        migrations.AddField(
            model_name="risksummary",
            name="attended_times",
            field=django.contrib.postgres.fields.ArrayField(base_field=models.DateTimeField(), default=list, size=None),
        ),
        migrations.RunSQL(
            REFRESH_FUNCTION,
            ["DROP FUNCTION aftercare_risk_summary_refresh(uuid[])", PREVIOUS_FUNCTION],
        ),
        migrations.RunSQL("SELECT aftercare_risk_summary_refresh(NULL)", migrations.RunSQL.noop),
    ]
