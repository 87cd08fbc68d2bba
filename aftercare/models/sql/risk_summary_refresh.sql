-- aftercare_risk_summary_refresh(patients): recompute the risk summaries of the given patients
-- (NULL: every patient) from their counted sessions. Installed by a migration; rendered first by
-- aftercare/models/summary.py, which fills in each double-braced name from the outcome vocabulary
-- (aftercare/models/outcomes.py). tests/aftercare/test_outcomes.py checks that the function in the
-- database is this file as rendered today: change either, and a migration must install it again.
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
                                       missed_at, missed, medication_missed_at, medication_missed,
                                       individual_attended_at, individual_missed_at, individual_missed,
                                       group_attended_at, group_missed_at, group_missed)
    WITH sessions AS (
        SELECT a.patient_id, 'appointment'::text AS type, a.id, a.starts_at, a.attendance_status::text AS status,
               {{ appointment_stream }} AS stream, a.attendance_status IN {{ appointment_missed }} AS missed
        FROM aftercare_appointment a
        WHERE a.attendance_status IN {{ appointment_counted }}
          AND (patients IS NULL OR a.patient_id = ANY(patients))
        UNION ALL
        SELECT ga.patient_id, 'group_session', gs.id, gs.starts_at, ga.status::text, {{ group_stream }},
               ga.status IN {{ group_missed }}
        FROM aftercare_groupattendance ga
        JOIN aftercare_groupsession gs ON gs.id = ga.session_id AND NOT gs.cancelled
        WHERE ga.status IN {{ group_counted }}
          AND (patients IS NULL OR ga.patient_id = ANY(patients))
    ), marked AS (
        SELECT s.*, jsonb_build_object('type', s.type, 'id', s.id, 'starts_at', s.starts_at, 'status', s.status) AS item,
               max(s.starts_at) FILTER (WHERE NOT s.missed) OVER (PARTITION BY s.patient_id) AS last_attended
        FROM sessions s
    )
    -- Every session together, then each stream apart: its last attended one and its misses.
    SELECT patient_id, max(last_attended),
           coalesce(jsonb_agg(item ORDER BY starts_at, id) FILTER (WHERE NOT missed AND starts_at = last_attended), '[]'),
           coalesce(array_agg(starts_at ORDER BY starts_at, id) FILTER (WHERE NOT missed), '{}'),
           max(starts_at) FILTER (WHERE NOT missed AND stream = 'medication'),
           coalesce(array_agg(starts_at ORDER BY starts_at, id) FILTER (WHERE missed), '{}'),
           coalesce(jsonb_agg(item ORDER BY starts_at, id) FILTER (WHERE missed), '[]'),
           coalesce(array_agg(starts_at ORDER BY starts_at, id) FILTER (WHERE missed AND stream = 'medication'), '{}'),
           coalesce(jsonb_agg(item ORDER BY starts_at, id) FILTER (WHERE missed AND stream = 'medication'), '[]'),
           max(starts_at) FILTER (WHERE NOT missed AND stream = 'individual'),
           coalesce(array_agg(starts_at ORDER BY starts_at, id) FILTER (WHERE missed AND stream = 'individual'), '{}'),
           coalesce(jsonb_agg(item ORDER BY starts_at, id) FILTER (WHERE missed AND stream = 'individual'), '[]'),
           max(starts_at) FILTER (WHERE NOT missed AND stream = 'group'),
           coalesce(array_agg(starts_at ORDER BY starts_at, id) FILTER (WHERE missed AND stream = 'group'), '{}'),
           coalesce(jsonb_agg(item ORDER BY starts_at, id) FILTER (WHERE missed AND stream = 'group'), '[]')
    FROM marked
    GROUP BY patient_id;
END;
$$;
