"""The benchmark population: 50 000 patients and 1 000 000 appointments in one clinic (plus a
second clinic, so tenant scoping has something to exclude), written by set-based SQL."""

from __future__ import annotations

import os
import time
import uuid

from django.db import connection

from bench.seed_records import seed_records
from clinic.models import Clinic, Role, StaffMembership, User

# BENCH_PATIENTS: a smaller population for quick iterations (figures to report use the default).
PATIENTS = int(os.environ.get("BENCH_PATIENTS", "50000"))
APPOINTMENTS_PER_PATIENT = 20
CLINICIANS = 50


# What seed_records wrote, by kind (printed with the seed's figures).
RECORDS: dict[str, int] = {}


def seed(*, patients: int = PATIENTS, per_patient: int = APPOINTMENTS_PER_PATIENT) -> tuple[Clinic, float]:
    started = time.perf_counter()
    clinic = Clinic.objects.create(slug="bench", name="Bench Health", time_zone="America/Chicago")
    other = Clinic.objects.create(slug="bench-other", name="Other", time_zone="UTC")
    clinicians = []
    for index in range(CLINICIANS):
        user = User.objects.create(username=f"bench-clinician-{index}")
        StaffMembership.objects.create(user=user, clinic=clinic, role=Role.CLINICIAN)
        clinicians.append(str(user.pk))
    with connection.cursor() as cursor:
        for target, count in ((clinic, patients), (other, patients // 10)):
            cursor.execute(
                """
                INSERT INTO clinic_patient (id, clinic_id, external_id, given_name, family_name, date_of_birth,
                    email, phone, preferred_language, reminders_opt_in, checkins_opt_in, status, intake_date,
                    created_at, updated_at)
                SELECT gen_random_uuid(), %s, 'B' || g, 'Given' || g, 'Family' || g, date '1960-01-01' + (g %% 15000),
                    'p' || g || '@example.org', '', 'en', true, g %% 2 = 1, 'active', current_date - (g %% 400),
                    now() - make_interval(secs => g), now()
                FROM generate_series(1, %s) AS g
                """,
                [target.pk, count],
            )
        # The bench writes non-overlapping slots itself; the per-row double-booking trigger (a
        # lock and a lookup per row) is for the API's writes, not for a bulk load.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(
            """
            WITH numbered AS (
                SELECT id, clinic_id, row_number() OVER (ORDER BY created_at, id) - 1 AS n
                FROM clinic_patient WHERE clinic_id = %s
            ), clinicians AS (
                SELECT (ordinality - 1) AS c, value::uuid AS clinician_id
                FROM unnest(%s::text[]) WITH ORDINALITY AS t(value, ordinality)
            )
            INSERT INTO aftercare_appointment (id, clinic_id, patient_id, clinician_id, kind, starts_at, ends_at,
                location, telehealth_url, detached, attendance_status, created_at, updated_at)
            SELECT gen_random_uuid(), p.clinic_id, p.id, c.clinician_id, 'individual_therapy',
                slot.starts_at, slot.starts_at + interval '50 minutes', 'Room 1', '', false,
                -- What happened at past sessions; the future ones are still to come.
                CASE WHEN slot.starts_at > now() THEN 'scheduled' ELSE
                (ARRAY['attended', 'attended', 'attended', 'missed', 'late', 'cancelled', 'late_cancelled',
                       'scheduled'])[1 + (p.n + k) %% 8] END,
                now() - make_interval(secs => p.n * %s + k), now()
            FROM numbered p
            JOIN clinicians c ON c.c = p.n %% %s
            CROSS JOIN generate_series(0, %s - 1) AS k
            CROSS JOIN LATERAL (
                -- Each clinician's slots, hour after hour, half of them past and half ahead.
                SELECT date_trunc('hour', now()) - make_interval(hours => %s)
                    + make_interval(hours => ((p.n / %s) * %s + k)::int) AS starts_at
            ) AS slot
            """,
            [
                clinic.pk,
                clinicians,
                per_patient,
                CLINICIANS,
                per_patient,
                patients // CLINICIANS * per_patient // 2,
                CLINICIANS,
                per_patient,
            ],
        )
        RECORDS.update(seed_records(cursor, clinic, clinicians[0]))
        cursor.execute("SET session_replication_role = DEFAULT")
        # The load bypassed the triggers that keep the risk summaries: rebuild them, as any bulk
        # load that bypasses triggers must (aftercare/models/summary.py).
        cursor.execute("SELECT aftercare_risk_summary_refresh(NULL)")
        # What autovacuum would have done by now on a settled database. Left to autovacuum, it
        # would run during the measurement and take one of the two cores.
        cursor.execute("VACUUM ANALYZE")
    return clinic, time.perf_counter() - started


def new_id() -> str:
    return str(uuid.uuid4())
