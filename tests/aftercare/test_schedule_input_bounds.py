"""Scheduling input at the edges: far-off years, malformed rules, and a move that loses a race
with its series ending are each a 4xx naming what was wrong, never a server error."""

from __future__ import annotations

import datetime
import threading
import time
from typing import Any

import pytest
import time_machine
from django.db import connection, connections, transaction
from django.http import Http404
from rest_framework.test import APIClient

from aftercare.models import Appointment, AppointmentSeries, GroupSession
from aftercare.services.appointments import appointment_move, attendance_record
from aftercare.services.series import series_end
from clinic.auth.caller import Caller
from clinic.models import Clinic, Role
from tests.aftercare.factories import SupportGroupFactory
from tests.conftest import Persona
from tests.factories import MembershipFactory, PatientFactory, access_token, integration_client

NOW = datetime.datetime(2026, 11, 2, 15, 0, tzinfo=datetime.UTC)


def error_attrs(response: Any) -> set[str | None]:
    return {error["attr"] for error in response.json()["errors"]}


@pytest.fixture
def people(ehr_a: Persona, make_staff: Any) -> dict[str, Any]:
    return {
        "clinician": make_staff(ehr_a.clinic, Role.CLINICIAN).user,
        "patient": PatientFactory.create(clinic=ehr_a.clinic),
    }


# Year 1 in UTC overflowed as soon as a reminder was placed before it; year 9999 was stored, and
# any reading in a zone east of UTC (or a duration added) would overflow later.
FAR_INSTANTS = [
    ("0001-01-01T00:00:00Z", "0001-01-01T00:50:00Z"),
    ("0001-01-01T00:30:00+01:00", "0001-01-01T01:20:00+01:00"),
    ("9999-12-31T22:00:00Z", "9999-12-31T22:50:00Z"),
    ("1899-12-31T10:00:00Z", "1899-12-31T10:50:00Z"),
    ("2200-01-01T10:00:00Z", "2200-01-01T10:50:00Z"),
]


@pytest.mark.parametrize(("starts_at", "ends_at"), FAR_INSTANTS)
def test_an_appointment_in_a_far_off_year_is_400_naming_the_field(
    ehr_a: Persona, people: dict[str, Any], starts_at: str, ends_at: str
) -> None:
    body = {
        "patient": str(people["patient"].pk),
        "clinician": str(people["clinician"].pk),
        "kind": "individual_therapy",
        "starts_at": starts_at,
        "ends_at": ends_at,
    }
    response = ehr_a.api.post("/api/v1/appointments/", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["type"] == "validation_error"
    assert error_attrs(response) == {"starts_at", "ends_at"}
    assert not Appointment.objects.exists()


@pytest.mark.parametrize(("starts_at", "ends_at"), FAR_INSTANTS)
def test_a_group_session_in_a_far_off_year_is_400_naming_the_field(
    ehr_a: Persona, starts_at: str, ends_at: str
) -> None:
    group = SupportGroupFactory.create(clinic=ehr_a.clinic)
    body = {"group": str(group.pk), "starts_at": starts_at, "ends_at": ends_at}
    response = ehr_a.api.post("/api/v1/group-sessions/", body, format="json")
    assert response.status_code == 400, response.content
    assert error_attrs(response) == {"starts_at", "ends_at"}
    assert not GroupSession.objects.exists()


def test_the_edges_of_a_sessions_window_are_accepted(ehr_a: Persona, people: dict[str, Any]) -> None:
    # Within the years the API accepts, a session lies at most 2 years back and 5 ahead.
    group = SupportGroupFactory.create(clinic=ehr_a.clinic)
    with time_machine.travel(NOW, tick=False):
        for start in (
            NOW - datetime.timedelta(days=2 * 366) + datetime.timedelta(minutes=1),
            NOW + datetime.timedelta(days=5 * 366 - 1),
        ):
            body = {
                "group": str(group.pk),
                "starts_at": start.isoformat(),
                "ends_at": (start + datetime.timedelta(hours=1)).isoformat(),
            }
            assert ehr_a.api.post("/api/v1/group-sessions/", body, format="json").status_code == 201
        late = NOW + datetime.timedelta(days=5 * 366, minutes=1)
        body = {
            "group": str(group.pk),
            "starts_at": late.isoformat(),
            "ends_at": (late + datetime.timedelta(hours=1)).isoformat(),
        }
        assert error_attrs(ehr_a.api.post("/api/v1/group-sessions/", body, format="json")) == {"starts_at", "ends_at"}


def _series_body(people: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {
        "patient": str(people["patient"].pk),
        "clinician": str(people["clinician"].pk),
        "kind": "individual_therapy",
        "rrule": "FREQ=WEEKLY;BYDAY=TU",
        "starts_on": "2026-11-03",
        "local_start_time": "18:00",
        "duration_minutes": 50,
        **overrides,
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("starts_on", "0001-01-01"),
        ("starts_on", "9999-12-28"),
        # WKST named an attribute of dateutil's module: `XX` was an AttributeError, a 500.
        ("rrule", "FREQ=WEEKLY;BYDAY=TU;WKST=XX"),
        ("rrule", "FREQ=WEEKLY;BYDAY=TU;WKST=DAILY"),
        ("rrule", "FREQ=WEEKLY;INTERVAL=²"),
        ("rrule", "FREQ=WEEKLY;INTERVAL=٣"),
        ("rrule", "FREQ=WEEKLY;COUNT=\uff11\uff12"),  # full-width 12
        ("rrule", "FREQ=WEEKLY;COUNT=" + "9" * 5000),
        ("rrule", "FREQ=WEEKLY;UNTIL=٢٠٢٧٠١٠١"),
    ],
)
def test_a_bad_series_date_or_rule_is_400_naming_it(
    ehr_a: Persona, people: dict[str, Any], field: str, value: str
) -> None:
    with time_machine.travel(NOW, tick=False):
        response = ehr_a.api.post("/api/v1/appointment-series/", _series_body(people, **{field: value}), format="json")
    assert response.status_code == 400, response.content
    assert error_attrs(response) == {field}
    assert not AppointmentSeries.objects.exists()


def test_a_week_start_that_is_a_weekday_is_accepted(ehr_a: Persona, people: dict[str, Any]) -> None:
    with time_machine.travel(NOW, tick=False):
        body = _series_body(people, rrule="FREQ=WEEKLY;BYDAY=TU,SU;INTERVAL=2;WKST=SU")
        response = ehr_a.api.post("/api/v1/appointment-series/", body, format="json")
    assert response.status_code == 201, response.content


def test_ending_a_series_in_a_far_off_year_is_400_naming_ended_on(ehr_a: Persona, people: dict[str, Any]) -> None:
    with time_machine.travel(NOW, tick=False):
        created = ehr_a.api.post("/api/v1/appointment-series/", _series_body(people), format="json")
        series_id = created.json()["id"]
        response = ehr_a.api.post(f"/api/v1/appointment-series/{series_id}/end/", {"ended_on": "9999-12-31"})
    assert response.status_code == 400, response.content
    assert error_attrs(response) == {"ended_on"}


@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+01:00"])
@pytest.mark.parametrize(
    "path", ["/api/v1/appointments/", "/api/v1/group-sessions/", "/api/v1/appointment-series/", "/api/v1/patients/"]
)
def test_filters_at_the_ends_of_the_calendar_never_fail(ehr_a: Persona, path: str, instant: str) -> None:
    response = ehr_a.api.get(path, {"updated_since": instant})
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert error_attrs(response) == {"updated_since"}


# --- a move racing with the end of its series ---------------------------------------------------


def _occurrence_after_the_end(series_id: str) -> Appointment:
    occurrences = Appointment.objects.filter(series__pk=series_id, occurrence_date__gt=datetime.date(2026, 11, 20))
    return occurrences.order_by("starts_at")[0]


def test_moving_or_recording_an_occurrence_the_series_dropped_is_404(ehr_a: Persona, people: dict[str, Any]) -> None:
    """The view read the occurrence; ending the series deleted it before the service locked it."""
    with time_machine.travel(NOW, tick=False):
        series_id = ehr_a.api.post("/api/v1/appointment-series/", _series_body(people), format="json").json()["id"]
    stale = _occurrence_after_the_end(series_id)
    series_end(series=AppointmentSeries.objects.get(pk=series_id), ended_on=datetime.date(2026, 11, 20), now=NOW)
    with pytest.raises(Http404):
        appointment_move(appointment=stale, location="Room 2")
    by = Caller(clinic=ehr_a.clinic, client=ehr_a.client, user=None, role=None, scopes=frozenset())
    with pytest.raises(Http404):
        attendance_record(appointment=stale, status="cancelled", by=by, now=NOW)


def _wait_for_a_lock_wait(timeout: float = 20.0) -> None:
    """Until some backend of this test database waits on a row lock."""
    deadline = time.monotonic() + timeout
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the move never waited on the series' lock")


@pytest.mark.django_db(transaction=True)
def test_a_move_racing_with_the_end_of_its_series_is_404_not_a_server_error() -> None:
    clinic = Clinic.objects.create(slug="race-end", name="Race", time_zone="America/Chicago")
    clinician = MembershipFactory.create(clinic=clinic, role=Role.CLINICIAN).user
    patient = PatientFactory.create(clinic=clinic)
    token = access_token(integration_client(clinic, ["schedule:read", "schedule:write"]))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    with time_machine.travel(NOW, tick=False):
        created = api.post(
            "/api/v1/appointment-series/", _series_body({"clinician": clinician, "patient": patient}), format="json"
        )
    assert created.status_code == 201, created.content
    series_id = created.json()["id"]
    target = _occurrence_after_the_end(series_id)

    ended, commit = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def end_the_series() -> None:
        try:
            with transaction.atomic():
                series = AppointmentSeries.objects.get(pk=series_id)
                series_end(series=series, ended_on=datetime.date(2026, 11, 20), now=NOW)
                ended.set()  # deleted, not yet committed: the move still reads the occurrence
                commit.wait(timeout=30)
        finally:
            ended.set()
            connection.close()

    def move() -> None:
        mover = APIClient()
        mover.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        try:
            outcome["response"] = mover.patch(
                f"/api/v1/appointments/{target.pk}/", {"location": "Room 2"}, format="json"
            )
        except Exception as exc:
            outcome["error"] = exc
        finally:
            connection.close()

    ender = threading.Thread(target=end_the_series)
    ender.start()
    assert ended.wait(timeout=30)
    mover_thread = threading.Thread(target=move)
    mover_thread.start()
    try:
        _wait_for_a_lock_wait()
    finally:
        commit.set()
        ender.join(timeout=30)
        mover_thread.join(timeout=30)
    assert "error" not in outcome, repr(outcome.get("error"))
    response = outcome["response"]
    assert response.status_code == 404, response.content
    assert response.json() == {
        "type": "client_error",
        "errors": [{"code": "not_found", "detail": response.json()["errors"][0]["detail"], "attr": None}],
    }
    assert not Appointment.objects.filter(pk=target.pk).exists()
    connection.close()
