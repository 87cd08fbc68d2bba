"""The outcome vocabulary (attended / missed / not counted) has one definition, and the SQL the
database runs is rendered from it: change a status's outcome in Python and every fragment, the
summary function's text and the triggers follow; the function installed by the migrations is the
`.sql` file as rendered today (a change to either without a migration fails here)."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection

from aftercare.models import AttendanceStatus, GroupAttendanceStatus, RiskSummary
from aftercare.models import outcomes as outcomes_module
from aftercare.models.outcomes import (
    APPOINTMENT_OUTCOMES,
    GROUP_OUTCOMES,
    Outcome,
    SqlOutcomes,
    outcome_of,
    sql_list,
)
from aftercare.models.summary import REFRESH_FUNCTION_FILE, refresh_function_sql, refresh_triggers, render_sql
from tests.aftercare.factories import AppointmentFactory
from tests.factories import PatientFactory


def test_every_status_has_an_outcome() -> None:
    assert set(APPOINTMENT_OUTCOMES) == set(AttendanceStatus.values)
    assert set(GROUP_OUTCOMES) == set(GroupAttendanceStatus.values)
    assert outcome_of("late") is Outcome.ATTENDED
    assert outcome_of("late_cancelled") is Outcome.MISSED
    assert outcome_of("excused", group=True) is Outcome.NOT_COUNTED
    assert outcome_of(None) is Outcome.NOT_COUNTED


def test_changing_an_outcome_in_python_changes_the_rendered_sql(monkeypatch: pytest.MonkeyPatch) -> None:
    before_fragments = SqlOutcomes.fragments()
    before_function = refresh_function_sql()
    before_triggers = [str(t.func) for t in refresh_triggers("appointment", "attendance_status", "()", ("id",))]
    assert "'late_cancelled'" in before_fragments["appointment_missed"]

    # A clinic decides a late cancellation is not a miss: one line of Python.
    changed = {**APPOINTMENT_OUTCOMES, AttendanceStatus.LATE_CANCELLED: Outcome.NOT_COUNTED}
    monkeypatch.setattr(outcomes_module, "APPOINTMENT_OUTCOMES", changed)

    after = SqlOutcomes.fragments()
    assert after["appointment_missed"] == "('missed')"
    assert after["appointment_counted"] == "('attended', 'late', 'missed')"
    assert after["group_counted"] == before_fragments["group_counted"]
    function = refresh_function_sql()
    assert function != before_function
    assert "IN ('attended', 'late', 'missed')\n" in function
    assert "late_cancelled" not in function
    # The triggers are built from the same fragments by the models: the counted list they are given.
    counted = after["appointment_counted"]
    triggers = [str(t.func) for t in refresh_triggers("appointment", "attendance_status", counted, ("id",))]
    assert triggers != before_triggers


def test_the_installed_function_is_the_sql_file_as_rendered_today(db: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT prosrc, proconfig FROM pg_proc WHERE oid = 'aftercare_risk_summary_refresh(uuid[])'::regprocedure"
        )
        installed, config = cursor.fetchone()
    rendered = refresh_function_sql()
    body = rendered.split("AS $$", 1)[1].rsplit("$$;", 1)[0]
    assert installed == body, (
        f"The installed aftercare_risk_summary_refresh differs from {REFRESH_FUNCTION_FILE.name} as rendered "
        "today: add a migration that installs refresh_function_sql() (see aftercare/migrations/0018)."
    )
    assert config == ["TimeZone=UTC", "plan_cache_mode=force_custom_plan"]


def test_rendering_refuses_a_placeholder_without_a_fragment() -> None:
    with pytest.raises(ValueError, match="appointment_mised"):
        render_sql("WHERE status IN {{ appointment_mised }}", SqlOutcomes.fragments())
    with pytest.raises(ValueError, match="plain identifiers"):
        sql_list([])
    with pytest.raises(ValueError, match="plain identifiers"):
        sql_list(["missed'); DROP TABLE x; --"])


@pytest.mark.django_db
def test_the_summary_keeps_every_attended_start_in_order() -> None:
    patient = PatientFactory.create()
    now = datetime.datetime(2026, 11, 20, 12, tzinfo=datetime.UTC)
    for days, status in ((9, "attended"), (7, "missed"), (5, "late"), (3, "excused"), (1, "attended")):
        starts_at = now - datetime.timedelta(days=days)
        AppointmentFactory.create(patient=patient, clinic=patient.clinic, starts_at=starts_at, attendance_status=status)
    summary = RiskSummary.objects.get(patient=patient)
    assert summary.attended_times == [now - datetime.timedelta(days=d) for d in (9, 5, 1)]
    assert summary.attended_at == now - datetime.timedelta(days=1)
    assert summary.missed_at == [now - datetime.timedelta(days=7)]
