"""Per-patient risk summaries, kept current by statement-level triggers (aftercare/models/summary.py).

`aftercare_risk_summary_refresh(patients)` recomputes the given patients' rows (NULL: every row).
The backfill runs it once for the sessions already recorded.
"""

import django.contrib.postgres.fields
import django.db.models.deletion
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models

# Recomputes the summaries of the patients the scope selects, from their counted sessions.
SUMMARISE = """
        INSERT INTO aftercare_risksummary (patient_id, attended_at, attended, medication_attended_at,
                                           missed_at, missed, medication_missed_at, medication_missed)
        WITH sessions AS (
            SELECT a.patient_id, 'appointment'::text AS type, a.id, a.starts_at, a.attendance_status::text AS status,
                   a.kind = 'medication' AS medication, a.attendance_status IN ('missed', 'late_cancelled') AS missed
            FROM aftercare_appointment a
            WHERE a.attendance_status IN ('attended', 'late', 'missed', 'late_cancelled'){appointments}
            UNION ALL
            SELECT ga.patient_id, 'group_session', gs.id, gs.starts_at, ga.status::text, false, ga.status = 'missed'
            FROM aftercare_groupattendance ga
            JOIN aftercare_groupsession gs ON gs.id = ga.session_id AND NOT gs.cancelled
            WHERE ga.status IN ('attended', 'late', 'missed'){group_attendance}
        ), marked AS (
            SELECT s.*, jsonb_build_object('type', s.type, 'id', s.id, 'starts_at', s.starts_at, 'status', s.status) AS item,
                   max(s.starts_at) FILTER (WHERE NOT s.missed) OVER (PARTITION BY s.patient_id) AS last_attended
            FROM sessions s
        )
        SELECT patient_id, max(last_attended),
               coalesce(jsonb_agg(item ORDER BY starts_at, id) FILTER (WHERE NOT missed AND starts_at = last_attended), '[]'),
               max(starts_at) FILTER (WHERE NOT missed AND medication),
               coalesce(array_agg(starts_at ORDER BY starts_at, id) FILTER (WHERE missed), '{{}}'),
               coalesce(jsonb_agg(item ORDER BY starts_at, id) FILTER (WHERE missed), '[]'),
               coalesce(array_agg(starts_at ORDER BY starts_at, id) FILTER (WHERE missed AND medication), '{{}}'),
               coalesce(jsonb_agg(item ORDER BY starts_at, id) FILTER (WHERE missed AND medication), '[]')
        FROM marked
        GROUP BY patient_id;
"""

REFRESH_FUNCTION = f"""
CREATE FUNCTION aftercare_risk_summary_refresh(patients uuid[]) RETURNS void
LANGUAGE plpgsql
-- Evidence carries instants as JSON text: always in UTC, whatever the writer's session says.
SET timezone = 'UTC'
AS $$
BEGIN
    IF patients IS NULL THEN
        -- Every patient: after a bulk load that bypassed the triggers, or to check them.
        DELETE FROM aftercare_risksummary;
        {SUMMARISE.format(appointments="", group_attendance="")}
        RETURN;
    END IF;
    IF cardinality(patients) = 0 THEN
        RETURN;
    END IF;
    -- Refreshes of one patient take turns: the second waits for the first to commit, then reads
    -- (a new snapshot per statement) the sessions both wrote.
    PERFORM 1 FROM clinic_patient WHERE id = ANY(patients) ORDER BY id FOR NO KEY UPDATE;
    DELETE FROM aftercare_risksummary WHERE patient_id = ANY(patients);
    {SUMMARISE.format(appointments=" AND a.patient_id = ANY(patients)", group_attendance=" AND ga.patient_id = ANY(patients)")}
END;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("aftercare", "0006_change_history"),
        ("clinic", "0005_change_history"),
    ]

    operations = [
        migrations.CreateModel(
            name="RiskSummary",
            fields=[
                (
                    "patient",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="clinic.patient",
                    ),
                ),
                ("attended_at", models.DateTimeField(null=True)),
                ("attended", models.JSONField(default=list)),
                ("medication_attended_at", models.DateTimeField(null=True)),
                (
                    "missed_at",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.DateTimeField(), default=list, size=None
                    ),
                ),
                ("missed", models.JSONField(default=list)),
                (
                    "medication_missed_at",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.DateTimeField(), default=list, size=None
                    ),
                ),
                ("medication_missed", models.JSONField(default=list)),
            ],
        ),
        migrations.RunSQL(REFRESH_FUNCTION, "DROP FUNCTION aftercare_risk_summary_refresh(uuid[])"),
        migrations.RunSQL("SELECT aftercare_risk_summary_refresh(NULL)", migrations.RunSQL.noop),
        pgtrigger.migrations.AddTrigger(
            model_name="appointment",
            trigger=pgtrigger.compiler.Trigger(
                name="risk_summary_appointment_insert",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="PERFORM aftercare_risk_summary_refresh(ARRAY(SELECT DISTINCT patient_id FROM new_rows WHERE attendance_status IN ('attended', 'late', 'missed', 'late_cancelled'))); RETURN NULL;",
                    hash="495d8accd10116ac2c6ac781cbf71a312c299e0d",
                    level="STATEMENT",
                    operation="INSERT",
                    pgid="pgtrigger_risk_summary_appointment_insert_cde2b",
                    referencing="REFERENCING NEW TABLE AS new_rows ",
                    table="aftercare_appointment",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="appointment",
            trigger=pgtrigger.compiler.Trigger(
                name="risk_summary_appointment_update",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="PERFORM aftercare_risk_summary_refresh(ARRAY(SELECT DISTINCT v.patient_id FROM new_rows n JOIN old_rows o ON o.id = n.id CROSS JOIN LATERAL (VALUES (n.patient_id), (o.patient_id)) AS v(patient_id) WHERE (n.attendance_status IS DISTINCT FROM o.attendance_status OR n.starts_at IS DISTINCT FROM o.starts_at OR n.kind IS DISTINCT FROM o.kind OR n.patient_id IS DISTINCT FROM o.patient_id) AND (n.attendance_status IN ('attended', 'late', 'missed', 'late_cancelled') OR o.attendance_status IN ('attended', 'late', 'missed', 'late_cancelled')))); RETURN NULL;",
                    hash="6d1105c607a66300ac2f56da9078a3f10cbdea52",
                    level="STATEMENT",
                    operation="UPDATE",
                    pgid="pgtrigger_risk_summary_appointment_update_93b18",
                    referencing="REFERENCING OLD TABLE AS old_rows  NEW TABLE AS new_rows ",
                    table="aftercare_appointment",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="appointment",
            trigger=pgtrigger.compiler.Trigger(
                name="risk_summary_appointment_delete",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="PERFORM aftercare_risk_summary_refresh(ARRAY(SELECT DISTINCT patient_id FROM old_rows WHERE attendance_status IN ('attended', 'late', 'missed', 'late_cancelled'))); RETURN NULL;",
                    hash="5a5e0d29fef7a2a2cb3d6dcd26a29388f14bf500",
                    level="STATEMENT",
                    operation="DELETE",
                    pgid="pgtrigger_risk_summary_appointment_delete_3c507",
                    referencing="REFERENCING OLD TABLE AS old_rows ",
                    table="aftercare_appointment",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="groupattendance",
            trigger=pgtrigger.compiler.Trigger(
                name="risk_summary_groupattendance_insert",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="PERFORM aftercare_risk_summary_refresh(ARRAY(SELECT DISTINCT patient_id FROM new_rows WHERE status IN ('attended', 'late', 'missed'))); RETURN NULL;",
                    hash="22ccc8bfdb93f903bd53ab455e26fc2a4e1492d7",
                    level="STATEMENT",
                    operation="INSERT",
                    pgid="pgtrigger_risk_summary_groupattendance_insert_3abdd",
                    referencing="REFERENCING NEW TABLE AS new_rows ",
                    table="aftercare_groupattendance",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="groupattendance",
            trigger=pgtrigger.compiler.Trigger(
                name="risk_summary_groupattendance_update",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="PERFORM aftercare_risk_summary_refresh(ARRAY(SELECT DISTINCT v.patient_id FROM new_rows n JOIN old_rows o ON o.id = n.id CROSS JOIN LATERAL (VALUES (n.patient_id), (o.patient_id)) AS v(patient_id) WHERE (n.status IS DISTINCT FROM o.status OR n.session_id IS DISTINCT FROM o.session_id OR n.patient_id IS DISTINCT FROM o.patient_id) AND (n.status IN ('attended', 'late', 'missed') OR o.status IN ('attended', 'late', 'missed')))); RETURN NULL;",
                    hash="83d08bf45189757e193d77ecdf650504e399f8af",
                    level="STATEMENT",
                    operation="UPDATE",
                    pgid="pgtrigger_risk_summary_groupattendance_update_cfc26",
                    referencing="REFERENCING OLD TABLE AS old_rows  NEW TABLE AS new_rows ",
                    table="aftercare_groupattendance",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="groupattendance",
            trigger=pgtrigger.compiler.Trigger(
                name="risk_summary_groupattendance_delete",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="PERFORM aftercare_risk_summary_refresh(ARRAY(SELECT DISTINCT patient_id FROM old_rows WHERE status IN ('attended', 'late', 'missed'))); RETURN NULL;",
                    hash="8b8237de3eebba53ab2878a22a8e28e91b446dd5",
                    level="STATEMENT",
                    operation="DELETE",
                    pgid="pgtrigger_risk_summary_groupattendance_delete_706a8",
                    referencing="REFERENCING OLD TABLE AS old_rows ",
                    table="aftercare_groupattendance",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="groupsession",
            trigger=pgtrigger.compiler.Trigger(
                name="risk_summary_groupsession_update",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="PERFORM aftercare_risk_summary_refresh(ARRAY(SELECT DISTINCT ga.patient_id FROM new_rows n JOIN old_rows o ON o.id = n.id JOIN aftercare_groupattendance ga ON ga.session_id = n.id WHERE (n.cancelled IS DISTINCT FROM o.cancelled OR n.starts_at IS DISTINCT FROM o.starts_at) AND ga.status IN ('attended', 'late', 'missed'))); RETURN NULL;",
                    hash="1d16ba1abc286fe9201a67a7c234b2783138ab14",
                    level="STATEMENT",
                    operation="UPDATE",
                    pgid="pgtrigger_risk_summary_groupsession_update_04005",
                    referencing="REFERENCING OLD TABLE AS old_rows  NEW TABLE AS new_rows ",
                    table="aftercare_groupsession",
                    when="AFTER",
                ),
            ),
        ),
    ]
