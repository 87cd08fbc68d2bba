"""A list page rendered by PostgreSQL (clinic/api/sqlpage.py) is byte for byte the page DRF
renders, links included, and writes the same access event, for every filter, order and cursor."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aftercare.models import ActivityKind, Appointment, AttendanceStatus
from clinic.api.views import ClinicScopedViewSet
from clinic.models import AccessEvent, Clinic, Patient, PatientStatus
from tests.aftercare.factories import AppointmentFactory, clinician_of
from tests.conftest import Persona
from tests.factories import PatientFactory

# Text a person may type and text a careless import may hold: quotes, backslashes, controls that
# JSON escapes (tab, newline, others as \u00XX), DEL and C1 controls it does not, the line and
# paragraph separators DRF escapes, letters of other scripts and an emoji.
NAMES = [
    'O\'Brien "Bo"',
    "back\\slash",
    "tab\there\nnew\rline",
    "bell\x07\x1f\x7f\x85",
    "line\u2028para\u2029",
    "Zoë Łukasz 山田 محمد",
    "😀",
    "",
]
BASE = datetime.datetime(2026, 11, 20, 9, 30, tzinfo=datetime.UTC)


@pytest.fixture
def rows(ehr_a: Persona, ehr_b: Persona) -> dict[str, Any]:
    clinic = ehr_a.clinic
    clinicians = [clinician_of(clinic), clinician_of(clinic)]
    patients = []
    for index, name in enumerate(NAMES * 2):
        patients.append(
            PatientFactory.create(
                clinic=clinic,
                given_name=name,
                family_name=NAMES[-1 - index % len(NAMES)],
                external_id=None if index % 3 == 0 else f"MRN-{index}",
                assigned_clinician=clinicians[index % 2] if index % 4 else None,
                date_of_birth=datetime.date(1900, 1, 1 + index),
                intake_date=datetime.date(1900, 6, 1) if index % 2 == 0 else datetime.date(2026, 11, 1),
                discharge_date=None if index % 2 else datetime.date(1901, 2, 3 + index % 20),
                status=PatientStatus.DISCHARGED if index % 2 == 0 else PatientStatus.ACTIVE,
                email=f"p{index}@example.org" if index % 5 else "",
            )
        )
    # Instants with and without microseconds, and ties (the id breaks them).
    for index, patient in enumerate(patients):
        micro = 0 if index % 2 else 123 * index
        at = BASE + datetime.timedelta(minutes=index // 3, microseconds=micro)
        Patient.objects.filter(pk=patient.pk).update(created_at=at, updated_at=at + datetime.timedelta(hours=index % 4))
    statuses = AttendanceStatus.values
    kinds = ActivityKind.values
    zones = [
        datetime.UTC,
        datetime.timezone(datetime.timedelta(hours=-5)),
        datetime.timezone(datetime.timedelta(hours=5, minutes=30)),
    ]
    for index in range(30):
        starts = datetime.datetime(
            2026,
            11,
            1 + index % 25,
            8 + index % 9,
            15,
            index * 7 % 60,
            0 if index % 3 else 500 * index,
            tzinfo=zones[index % 3],
        )
        appointment = AppointmentFactory.create(
            clinic=clinic,
            patient=patients[index % 7],
            clinician=clinicians[index % 2],
            kind=kinds[index % len(kinds)],
            starts_at=starts,
            location=NAMES[index % len(NAMES)],
        )
        at = BASE + datetime.timedelta(seconds=index // 2, microseconds=0 if index % 2 else 7)
        Appointment.objects.filter(pk=appointment.pk).update(
            created_at=at,
            updated_at=at + datetime.timedelta(minutes=index % 5),
            attendance_status=statuses[index % len(statuses)],
            attendance_recorded_at=None if index % 2 else timezone.now(),
        )
    # Another clinic's rows: never on clinic A's pages.
    AppointmentFactory.create_batch(3, clinic=ehr_b.clinic, patient=PatientFactory.create(clinic=ehr_b.clinic))
    return {"patient": str(patients[1].pk), "clinician": str(clinicians[0].pk)}


def _event(clinic: Clinic) -> dict[str, Any]:
    event = AccessEvent.objects.filter(clinic=clinic).order_by("-at").values(
        "actor", "user_id", "client_id", "action", "object_type", "object_ids", "patient_ids",
        "method", "path", "status_code", "ip",
    )[0]  # fmt: skip
    return dict(event)


def _both(persona: Persona, url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The page as SQL renders it, after checking that DRF renders the same bytes and logs the same event."""
    with monkeypatch.context() as patched:
        patched.setattr(ClinicScopedViewSet, "lists_in_sql", False)
        expected = persona.api.get(url, HTTP_ACCEPT="application/json")
    expected_event = _event(persona.clinic)
    with CaptureQueriesContext(connection) as captured:
        answered = persona.api.get(url, HTTP_ACCEPT="application/json")
    assert "WITH page AS" in captured.captured_queries[-1]["sql"], "the page was not read in SQL"
    assert answered.status_code == expected.status_code == 200
    assert answered.content == expected.content
    assert answered["Content-Type"] == expected["Content-Type"]
    assert _event(persona.clinic) == expected_event
    return answered.json()


def _walk(persona: Persona, url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Every page forward, then back from the last by `previous` links."""
    page = _both(persona, url, monkeypatch)
    yield page
    pages = 1
    while page["next"]:
        page = _both(persona, page["next"], monkeypatch)
        pages += 1
        yield page
    while page["previous"] and pages:
        page = _both(persona, page["previous"], monkeypatch)
        pages -= 1
        yield page


PATIENT_QUERIES = [
    "",
    "?page_size=1",
    "?page_size=200",
    "?ordering=updated_at",
    "?ordering=-updated_at&page_size=4",
    "?ordering=created_at&page_size=5",
    "?status=active&status=discharged&page_size=3",
    "?external_id=MRN-4",
    "?external_id=nobody",
    "?assigned_clinician={clinician}&page_size=2",
    "?updated_since=2026-11-20T10:00:00%2B00:00&ordering=updated_at&page_size=3",
]
APPOINTMENT_QUERIES = [
    "?page_size=7",
    "?ordering=starts_at&page_size=6",
    "?ordering=-starts_at&page_size=8",
    "?ordering=updated_at&page_size=9",
    "?patient={patient}&page_size=2",
    "?clinician={clinician}&ordering=-updated_at&page_size=4",
    "?kind=individual_therapy&kind=psychiatry",
    "?attendance_status=attended&attendance_status=missed&page_size=3",
    "?starts_after=2026-11-05T00:00:00-05:00&starts_before=2026-11-20T00:00:00Z&ordering=starts_at&page_size=4",
    "?updated_since=2026-11-20T09:30:05Z&page_size=5",
    "?series=00000000-0000-0000-0000-000000000000",
]


@pytest.mark.parametrize("query", PATIENT_QUERIES)
def test_a_patients_page_in_sql_is_the_page_drf_renders(
    ehr_a: Persona, rows: dict[str, Any], query: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for page in _walk(ehr_a, "/api/v1/patients/" + query.format(**rows), monkeypatch):
        assert all(row["id"] for row in page["results"])


@pytest.mark.parametrize("query", APPOINTMENT_QUERIES)
def test_an_appointments_page_in_sql_is_the_page_drf_renders(
    ehr_a: Persona, rows: dict[str, Any], query: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for page in _walk(ehr_a, "/api/v1/appointments/" + query.format(**rows), monkeypatch):
        assert all(row["id"] for row in page["results"])


def test_a_staff_members_page_in_sql_is_the_page_drf_renders(
    clinician_a: Persona, rows: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for url in ("/api/v1/patients/?page_size=5", "/api/v1/appointments/?page_size=11"):
        pages = list(_walk(clinician_a, url, monkeypatch))
        assert len(pages) > 2


def test_an_indented_or_unicode_escaped_answer_is_still_drfs(
    ehr_a: Persona, rows: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client asking for indented JSON gets what DRF writes for it (the page read back)."""
    url = "/api/v1/patients/?page_size=3"
    with monkeypatch.context() as patched:
        patched.setattr(ClinicScopedViewSet, "lists_in_sql", False)
        expected = ehr_a.api.get(url, HTTP_ACCEPT="application/json; indent=2")
    answered = ehr_a.api.get(url, HTTP_ACCEPT="application/json; indent=2")
    assert answered.content == expected.content
    assert b'\n  "next"' in answered.content


def test_a_page_read_again_and_again_runs_as_a_prepared_statement(
    ehr_a: Persona, rows: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """psycopg prepares a statement its connection runs again and again: the page's parse and
    plan are then the database's once, and the answers stay those DRF gives."""
    for _ in range(7):
        _both(ehr_a, "/api/v1/appointments/?page_size=4", monkeypatch)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'WITH page AS%%'")
        assert cursor.fetchone()[0] >= 1
