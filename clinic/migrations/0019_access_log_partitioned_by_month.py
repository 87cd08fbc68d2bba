# The access log becomes a table partitioned by month on `at`, keeping every event.
#
# The old table steps aside, a partitioned one takes its name (its columns ordered so a row carries
# no alignment padding), a partition is made for every month from the oldest event to two months
# ahead plus a default partition, the rows are copied, and the indexes are built once, after the
# copy. PostgreSQL requires the primary key to hold the partition key: the table's is (id, at),
# while Django's state keeps `id` as the key (see clinic/models/access.py). The append-only trigger
# moves to the new parent, from which PostgreSQL clones it onto every partition, present and future.

import django.db.models.deletion
import pgtrigger.compiler
import pgtrigger.migrations
from django.conf import settings
from django.db import migrations, models

COLUMNS = (
    "id, at, clinic_id, user_id, client_id, status_code, action, method, actor, object_type, path, request_id, ip,"
    " object_ids, patient_ids"
)

FORWARD = f"""
ALTER TABLE clinic_accessevent RENAME TO clinic_accessevent_unpartitioned;
ALTER TABLE clinic_accessevent_unpartitioned
    RENAME CONSTRAINT clinic_accessevent_pkey TO clinic_accessevent_unpartitioned_pkey;
DROP INDEX access_clinic_at;
DROP INDEX access_patients;

CREATE TABLE clinic_accessevent (
    at timestamp with time zone NOT NULL,
    id uuid NOT NULL,
    clinic_id uuid NOT NULL,
    user_id uuid NULL,
    client_id uuid NULL,
    status_code smallint NOT NULL CONSTRAINT clinic_accessevent_status_code_check CHECK (status_code >= 0),
    action varchar(10) NOT NULL,
    method varchar(7) NOT NULL,
    actor varchar(64) NOT NULL CONSTRAINT access_actor_is_a_key
        CHECK (actor::text ~ '^(user|client):[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}$'),
    object_type varchar(60) NOT NULL,
    path varchar(300) NOT NULL,
    request_id varchar(64) NOT NULL,
    ip inet NULL,
    object_ids uuid[] NOT NULL,
    patient_ids uuid[] NOT NULL
) PARTITION BY RANGE (at);

CREATE TABLE clinic_accessevent_default PARTITION OF clinic_accessevent DEFAULT;

DO $$
DECLARE
    month date;
    last date := (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '2 months')::date;
BEGIN
    SELECT least(date_trunc('month', min(at) AT TIME ZONE 'UTC'), date_trunc('month', now() AT TIME ZONE 'UTC'))::date
      INTO month FROM clinic_accessevent_unpartitioned;
    month := coalesce(month, date_trunc('month', now() AT TIME ZONE 'UTC')::date);
    WHILE month <= last LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF clinic_accessevent FOR VALUES FROM (%L) TO (%L)',
            'clinic_accessevent_' || to_char(month, '"y"YYYY"m"MM'),
            to_char(month, 'YYYY-MM-DD') || ' 00:00:00+00',
            to_char(month + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00'
        );
        month := (month + interval '1 month')::date;
    END LOOP;
END $$;

INSERT INTO clinic_accessevent ({COLUMNS}) SELECT {COLUMNS} FROM clinic_accessevent_unpartitioned ORDER BY at, id;
DROP TABLE clinic_accessevent_unpartitioned;

ALTER TABLE clinic_accessevent ADD CONSTRAINT clinic_accessevent_pkey PRIMARY KEY (id, at);
CREATE INDEX access_clinic_at ON clinic_accessevent (clinic_id, at);
CREATE INDEX access_patients ON clinic_accessevent USING gin (patient_ids);
CREATE INDEX access_user ON clinic_accessevent (user_id, at) WHERE user_id IS NOT NULL;
CREATE INDEX access_client ON clinic_accessevent (client_id, at) WHERE client_id IS NOT NULL;
"""

# Back to one plain table (every partition's rows, detached or archived months excepted).
BACKWARD = f"""
ALTER TABLE clinic_accessevent RENAME TO clinic_accessevent_partitioned;
ALTER TABLE clinic_accessevent_partitioned
    RENAME CONSTRAINT clinic_accessevent_pkey TO clinic_accessevent_partitioned_pkey;
DROP INDEX access_clinic_at, access_patients, access_user, access_client;
CREATE TABLE clinic_accessevent (
    id uuid NOT NULL PRIMARY KEY,
    at timestamp with time zone NOT NULL,
    actor varchar(64) NOT NULL CONSTRAINT access_actor_is_a_key
        CHECK (actor::text ~ '^(user|client):[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}$'),
    action varchar(10) NOT NULL,
    object_type varchar(60) NOT NULL,
    object_ids uuid[] NOT NULL,
    patient_ids uuid[] NOT NULL,
    method varchar(7) NOT NULL,
    path varchar(300) NOT NULL,
    status_code smallint NOT NULL CONSTRAINT clinic_accessevent_status_code_check CHECK (status_code >= 0),
    ip inet NULL,
    request_id varchar(64) NOT NULL,
    client_id uuid NULL,
    clinic_id uuid NOT NULL,
    user_id uuid NULL
);
INSERT INTO clinic_accessevent ({COLUMNS}) SELECT {COLUMNS} FROM clinic_accessevent_partitioned;
DROP TABLE clinic_accessevent_partitioned;
CREATE INDEX access_clinic_at ON clinic_accessevent (clinic_id, at DESC);
CREATE INDEX access_patients ON clinic_accessevent USING gin (patient_ids);
CREATE INDEX clinic_accessevent_client_id_e133bef1 ON clinic_accessevent (client_id);
CREATE INDEX clinic_accessevent_clinic_id_557e7ebe ON clinic_accessevent (clinic_id);
CREATE INDEX clinic_accessevent_user_id_7a7e5fef ON clinic_accessevent (user_id);
"""

APPEND_ONLY = pgtrigger.compiler.Trigger(
    name="access_log_append_only",
    sql=pgtrigger.compiler.UpsertTriggerSql(
        func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;",
        hash="a9ce6f5bfe80fa57cf2774709922d46ef3165830",
        operation="UPDATE OR DELETE",
        pgid="pgtrigger_access_log_append_only_28b65",
        table="clinic_accessevent",
        when="BEFORE",
    ),
)


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0018_staff_external_id"),
    ]

    operations = [
        pgtrigger.migrations.RemoveTrigger(model_name="accessevent", name="access_log_append_only"),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(FORWARD, reverse_sql=BACKWARD)],
            state_operations=[
                migrations.RemoveIndex(model_name="accessevent", name="access_clinic_at"),
                migrations.AlterField(
                    model_name="accessevent",
                    name="client",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="clinic.integrationclient",
                    ),
                ),
                migrations.AlterField(
                    model_name="accessevent",
                    name="clinic",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="clinic.clinic",
                    ),
                ),
                migrations.AlterField(
                    model_name="accessevent",
                    name="user",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AddIndex(
                    model_name="accessevent",
                    index=models.Index(fields=["clinic", "at"], name="access_clinic_at"),
                ),
                migrations.AddIndex(
                    model_name="accessevent",
                    index=models.Index(
                        condition=models.Q(("user__isnull", False)), fields=["user", "at"], name="access_user"
                    ),
                ),
                migrations.AddIndex(
                    model_name="accessevent",
                    index=models.Index(
                        condition=models.Q(("client__isnull", False)), fields=["client", "at"], name="access_client"
                    ),
                ),
            ],
        ),
        pgtrigger.migrations.AddTrigger(model_name="accessevent", trigger=APPEND_ONLY),
    ]
