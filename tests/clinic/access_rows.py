"""Access events by the hundred thousand, written by one set-based INSERT: a realistic mix of what
the log records (the size test, the planner test and the export test share it).

Per 100 events: 60 views of one record of one patient, 25 lists naming `per_list` (50) records
of up to as many patients (a page of the API or of the dashboard), 10 creates or updates, 5 refused attempts naming
a record and no patient. Patients are drawn from a pool of `patients`; actors from 40 staff and 2
integration clients. `rare` (a patient id) is added to every `rare_every`-th event only.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from django.db import connection

# `md5(text)::uuid` turns a number into a fixed id, so a test can name the patient `k` of the pool.
_INSERT = """
INSERT INTO clinic_accessevent (id, at, clinic_id, actor, user_id, client_id, action, object_type, object_ids,
                                patient_ids, method, path, status_code, ip, request_id)
SELECT gen_random_uuid(),
       %(start)s::timestamptz + (g * %(step)s::interval),
       %(clinic)s::uuid,
       CASE WHEN g %% 20 = 0 THEN 'client:' || md5('client' || (g %% 2))::uuid
            ELSE 'user:' || md5('user' || (g %% 40))::uuid END,
       CASE WHEN g %% 20 = 0 THEN NULL ELSE md5('user' || (g %% 40))::uuid END,
       CASE WHEN g %% 20 = 0 THEN md5('client' || (g %% 2))::uuid END,
       CASE WHEN g %% 100 < 60 THEN 'view' WHEN g %% 100 < 85 THEN 'list'
            WHEN g %% 100 < 95 THEN 'update' ELSE 'denied' END,
       CASE WHEN g %% 100 BETWEEN 60 AND 84 THEN 'appointment' ELSE 'patient' END,
       CASE WHEN g %% 100 BETWEEN 60 AND 84
            THEN ARRAY(SELECT gen_random_uuid() FROM generate_series(1, %(per_list)s) AS k WHERE g > 0)
            ELSE ARRAY[gen_random_uuid()] END,
       CASE WHEN g %% 100 BETWEEN 60 AND 84
            THEN ARRAY(SELECT DISTINCT md5('patient' || ((g * 7 + k * 13) %% %(patients)s))::uuid
                       FROM generate_series(1, %(per_list)s) AS k)
            WHEN g %% 100 >= 95 THEN '{}'::uuid[]
            ELSE ARRAY[md5('patient' || (g %% %(patients)s))::uuid] END
         || CASE WHEN %(rare_every)s > 0 AND g %% GREATEST(%(rare_every)s, 1) = 0
                 THEN ARRAY[%(rare)s::uuid] ELSE '{}'::uuid[] END,
       CASE WHEN g %% 100 BETWEEN 85 AND 94 THEN 'PATCH' ELSE 'GET' END,
       '/api/v1/patients/' || md5('patient' || (g %% %(patients)s))::uuid || '/',
       CASE WHEN g %% 100 >= 95 THEN 404 ELSE 200 END,
       ('10.0.' || (g %% 250) || '.' || (g %% 200 + 1))::inet,
       gen_random_uuid()::text
FROM generate_series(1, %(count)s) AS g
"""


def pool_patient(k: int) -> uuid.UUID:
    """The id of the pool's patient `k`, as the INSERT writes it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT md5('patient' || %s::text)::uuid", [k])
        value: Any = cursor.fetchone()[0]
    return uuid.UUID(str(value))


def insert_events(
    *,
    clinic: Any,
    count: int,
    start: datetime.datetime,
    step: datetime.timedelta = datetime.timedelta(seconds=1),
    patients: int = 5000,
    rare: Any = None,
    rare_every: int = 0,
    per_list: int = 50,
) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT,
            {
                "start": start,
                "step": f"{step.total_seconds()} seconds",
                "clinic": str(getattr(clinic, "pk", clinic)),
                "patients": patients,
                "rare": str(rare or uuid.UUID(int=0)),
                "rare_every": rare_every if rare is not None else 0,
                "count": count,
                "per_list": per_list,
            },
        )
