"""The benchmark's records beyond attendance, so the sweep reads what a clinic's rules read: an
active plan per patient, medication-assisted treatment for a third of them with their dosing
events, weekly check-ins for half of them, monthly drug screens for the MAT patients, and recent
step-downs from residential care or detox. Written by set-based SQL with the triggers off, as the
appointments are (bench/seed.py); the counts are printed with the seed."""

from __future__ import annotations

from typing import Any

from clinic.models import Clinic

# Of the patients (numbered n from 0): methadone when n % 10 in {0, 1, 2}, buprenorphine in
# {3, 4}, naltrexone 5; check-ins when n is even; a step-down when n % 10 == 7.
_NUMBERED = """
    SELECT pa.id, pa.clinic_id, (row_number() OVER (ORDER BY pa.created_at, pa.id) - 1)::int AS n
    FROM clinic_patient pa WHERE pa.clinic_id = %(clinic)s
"""
_MEDICATION = (
    "CASE WHEN p.n %% 10 IN (0, 1, 2) THEN 'methadone' WHEN p.n %% 10 IN (3, 4) THEN 'buprenorphine' "
    "WHEN p.n %% 10 = 5 THEN 'naltrexone' END"
)

STATEMENTS = {
    "plans": f"""
        INSERT INTO aftercare_aftercareplan (id, created_at, updated_at, status, start_date, goals, warning_signs,
            triggers, coping_strategies, daily_routine, emergency_plan, support_persons, clinic_id, patient_id,
            checkin_every_days)
        SELECT gen_random_uuid(), now(), now(), 'active', current_date - (p.n %% 120)::int, '', '{{}}', '[]', '{{}}',
            '', '{{}}', '[]', p.clinic_id, p.id, CASE WHEN p.n %% 2 = 0 THEN 7 ELSE 0 END
        FROM ({_NUMBERED}) AS p
    """,
    "medication activities": f"""
        INSERT INTO aftercare_planactivity (id, created_at, updated_at, kind, frequency_count, frequency_period,
            provider, medication, dose_schedule, medication_started_on, support_group_kind, wellness_kind, notes,
            position, plan_id)
        SELECT gen_random_uuid(), now(), now(), 'medication', 1, 'day', '', {_MEDICATION}, '',
            current_date - (p.n %% 200)::int, '', '', '', 0, pl.id
        FROM ({_NUMBERED}) AS p JOIN aftercare_aftercareplan pl ON pl.patient_id = p.id
        WHERE p.n %% 10 < 6
    """,
    # Methadone: a dose observed every day of the last 30, but one patient in 8 stopped 2 to 8 days ago.
    # Buprenorphine: a week's take-home every 7 days for 8 weeks. Naltrexone: an injection every 28 days.
    "medication events": f"""
        INSERT INTO aftercare_medicationevent (id, created_at, updated_at, external_id, notes, entered_in_error,
            entered_in_error_reason, medication, kind, occurred_on, days_covered, clinic_id, patient_id,
            recorded_by_id)
        SELECT gen_random_uuid(), now(), now(), '', '', false, '', m.medication, m.kind, m.day, m.covered,
            p.clinic_id, p.id, %(by)s
        FROM ({_NUMBERED}) AS p
        CROSS JOIN LATERAL (
            SELECT 'methadone' AS medication, 'dose_observed' AS kind, current_date - d::int AS day,
                NULL::int AS covered
            FROM generate_series(CASE WHEN p.n %% 80 = 0 THEN 2 + (p.n / 80) %% 7 ELSE 0 END, 29) AS d
            WHERE p.n %% 10 IN (0, 1, 2)
            UNION ALL
            SELECT 'buprenorphine', 'take_home_dispensed', current_date - 7 * w - (p.n %% 3)::int, 7
            FROM generate_series(0, 7) AS w WHERE p.n %% 10 IN (3, 4)
            UNION ALL
            SELECT 'naltrexone', 'injection_given', current_date - 28 * w - (p.n %% 40)::int, NULL
            FROM generate_series(0, 3) AS w WHERE p.n %% 10 = 5
        ) AS m
    """,
    # Weekly check-ins for 12 weeks; four in five answered, the rest expired; a few report craving or use.
    "check-ins": f"""
        INSERT INTO aftercare_checkin (id, created_at, updated_at, due_on, send_at, status, attempts, sent_at,
            expires_at, answered_at, provider_message_id, last_error, clinic_id, patient_id, plan_id)
        SELECT gen_random_uuid(), now(), now(), current_date - 7 * w, now() - make_interval(days => 7 * w),
            CASE WHEN (p.n + w) %% 5 = 0 THEN 'expired' ELSE 'answered' END, 1,
            now() - make_interval(days => 7 * w), now() - make_interval(days => 7 * w) + interval '72 hours',
            CASE WHEN (p.n + w) %% 5 = 0 THEN NULL ELSE now() - make_interval(days => 7 * w) + interval '5 hours' END,
            '', '', p.clinic_id, p.id, pl.id
        FROM ({_NUMBERED}) AS p JOIN aftercare_aftercareplan pl ON pl.patient_id = p.id
        CROSS JOIN generate_series(1, 12) AS w
        WHERE p.n %% 2 = 0
    """,
    "check-in answers": """
        INSERT INTO aftercare_checkinresponse (checkin_id, instrument, answered_at, use_days, craving,
            sleep_trouble_days, low_mood_days, anxious_days, angry_days, confidence, support, meeting_days,
            wants_call, risk_score, protective_score, clinic_id, patient_id)
        SELECT c.id, 'bam-adapted-1', c.answered_at, CASE WHEN h %% 97 = 0 THEN 2 ELSE 0 END, h %% 5, h %% 4,
            h %% 3, h %% 2, 0, 4 - h %% 3, 3, h %% 3, h %% 211 = 0, h %% 13, 12 - h %% 13, c.clinic_id, c.patient_id
        FROM aftercare_checkin c CROSS JOIN LATERAL (SELECT abs(hashtext(c.id::text)) AS h) AS x
        WHERE c.status = 'answered'
    """,
    # Monthly screens for the MAT patients, three months back, five analytes each.
    "drug screens": f"""
        INSERT INTO aftercare_drugscreen (id, created_at, updated_at, external_id, notes, entered_in_error,
            entered_in_error_reason, collected_on, specimen, panel, clinic_id, patient_id, recorded_by_id)
        SELECT gen_random_uuid(), now(), now(), '', '', false, '', current_date - 30 * w - (p.n %% 30)::int,
            'urine', '5-panel', p.clinic_id, p.id, %(by)s
        FROM ({_NUMBERED}) AS p CROSS JOIN generate_series(0, 2) AS w
        WHERE p.n %% 10 < 6
    """,
    "drug screen results": """
        INSERT INTO aftercare_drugscreenresult (id, created_at, updated_at, analyte, result, expected,
            expected_stated, screen_id)
        SELECT gen_random_uuid(), now(), now(), a.analyte,
            CASE WHEN a.analyte = 'fentanyl' AND x.h %% 41 = 0 THEN 'positive' ELSE 'negative' END,
            NOT (a.analyte = 'fentanyl' AND x.h %% 41 = 0), false, d.id
        FROM aftercare_drugscreen d CROSS JOIN LATERAL (SELECT abs(hashtext(d.id::text)) AS h) AS x
        CROSS JOIN unnest(ARRAY['opioids', 'fentanyl', 'cocaine', 'amphetamines', 'benzodiazepines']) AS a(analyte)
    """,
    "care transitions": f"""
        INSERT INTO aftercare_caretransition (id, created_at, updated_at, external_id, notes, entered_in_error,
            entered_in_error_reason, direction, level_of_care, occurred_on, source, clinic_id, patient_id,
            recorded_by_id)
        SELECT gen_random_uuid(), now(), now(), '', '', false, '', 'entered_aftercare',
            (ARRAY['residential', 'withdrawal_management', 'inpatient'])[1 + (p.n / 10) %% 3],
            current_date - (p.n %% 100)::int, '', p.clinic_id, p.id, %(by)s
        FROM ({_NUMBERED}) AS p
        WHERE p.n %% 10 = 7
    """,
}


def seed_records(cursor: Any, clinic: Clinic, recorded_by: str) -> dict[str, int]:
    """Every statement above, in order; the rows each wrote."""
    counts = {}
    for name, sql in STATEMENTS.items():
        cursor.execute(sql, {"clinic": clinic.pk, "by": recorded_by})
        counts[name] = cursor.rowcount
    return counts
