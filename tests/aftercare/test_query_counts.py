"""Every list runs a fixed number of queries, whatever the page size or the number of rows."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aftercare.models import AttendanceRecord, GroupAttendance, GroupMembership, OutsideMeeting, PlanActivity
from tests.aftercare.factories import AppointmentFactory, GroupSessionFactory, PlanFactory, SupportGroupFactory
from tests.conftest import Persona
from tests.factories import PatientFactory


def _plans(clinic: Any, n: int) -> None:
    for patient in PatientFactory.create_batch(n, clinic=clinic):
        plan = PlanFactory.create(patient=patient)
        PlanActivity.objects.bulk_create([PlanActivity(plan=plan, kind="psychiatry") for _ in range(3)])


def _appointments(clinic: Any, n: int) -> None:
    patient = PatientFactory.create(clinic=clinic)
    start = timezone.now() - datetime.timedelta(days=30)
    for index in range(n):
        AppointmentFactory.create(clinic=clinic, patient=patient, starts_at=start + datetime.timedelta(hours=index))


def _series(clinic: Any, n: int) -> None:
    from aftercare.models import AppointmentSeries
    from tests.aftercare.factories import clinician_of

    clinician = clinician_of(clinic)
    patient = PatientFactory.create(clinic=clinic)
    AppointmentSeries.objects.bulk_create(
        AppointmentSeries(
            clinic=clinic, patient=patient, clinician=clinician, kind="psychiatry", rrule="FREQ=WEEKLY",
            starts_on=datetime.date(2026, 1, 1), local_start_time=datetime.time(9), duration_minutes=30,
            time_zone="UTC",
        )
        for _ in range(n)
    )  # fmt: skip


def _groups(clinic: Any, n: int) -> None:
    SupportGroupFactory.create_batch(n, clinic=clinic)


def _sessions(clinic: Any, n: int) -> None:
    group = SupportGroupFactory.create(clinic=clinic)
    GroupSessionFactory.create_batch(n, group=group)


def _meetings(clinic: Any, n: int) -> None:
    patient = PatientFactory.create(clinic=clinic)
    OutsideMeeting.objects.bulk_create(
        OutsideMeeting(clinic=clinic, patient=patient, kind="smart", date=datetime.date(2026, 11, 1)) for _ in range(n)
    )


def _outreach(clinic: Any, n: int) -> None:
    from aftercare.models import OutreachAttempt
    from tests.aftercare.factories import clinician_of

    patient, user = PatientFactory.create(clinic=clinic), clinician_of(clinic)
    OutreachAttempt.objects.bulk_create(
        OutreachAttempt(
            clinic=clinic, patient=patient, channel="phone", outcome="reached", attempted_at=timezone.now(), by=user
        )
        for _ in range(n)
    )


def _clinical_records(clinic: Any, n: int) -> None:
    """`n` of each: care transitions, medication events, drug screens with three results each."""
    from aftercare.models import CareTransition, DrugScreen, DrugScreenResult, MedicationEvent
    from tests.aftercare.factories import clinician_of

    patient, user = PatientFactory.create(clinic=clinic), clinician_of(clinic)
    days = [datetime.date(2026, 1, 1) + datetime.timedelta(days=index) for index in range(n)]
    mine = {"clinic": clinic, "patient": patient, "recorded_by": user}
    CareTransition.objects.bulk_create(
        CareTransition(**mine, direction="discharged", level_of_care="outpatient", occurred_on=day) for day in days
    )
    MedicationEvent.objects.bulk_create(
        MedicationEvent(**mine, medication="methadone", kind="dose_observed", occurred_on=day) for day in days
    )
    screens = DrugScreen.objects.bulk_create(DrugScreen(**mine, collected_on=day) for day in days)
    DrugScreenResult.objects.bulk_create(
        DrugScreenResult(screen=screen, analyte=analyte, result="negative", expected=True)
        for screen in screens
        for analyte in ("fentanyl", "cocaine", "opioids")
    )


def _patients(clinic: Any, n: int) -> None:
    PatientFactory.create_batch(n, clinic=clinic)


LISTS: dict[str, Callable[[Any, int], None]] = {
    "/api/v1/patients/": _patients,
    "/api/v1/plans/": _plans,
    "/api/v1/appointments/": _appointments,
    "/api/v1/appointment-series/": _series,
    "/api/v1/support-groups/": _groups,
    "/api/v1/group-sessions/": _sessions,
    "/api/v1/outside-meetings/": _meetings,
    "/api/v1/outreach-attempts/": _outreach,
    "/api/v1/care-transitions/": _clinical_records,
    "/api/v1/medication-events/": _clinical_records,
    "/api/v1/drug-screens/": _clinical_records,
}


def _count(persona: Persona, url: str, **params: Any) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        response = persona.api.get(url, params)
    assert response.status_code == 200, response.json()
    body = response.json()
    rows = len(body["results"]) if isinstance(body, dict) else len(body)
    return len(captured), rows


@pytest.mark.parametrize("url", list(LISTS))
def test_a_list_costs_the_same_queries_for_2_rows_as_for_40(ehr_a: Persona, url: str) -> None:
    LISTS[url](ehr_a.clinic, 40)
    small, small_rows = _count(ehr_a, url, page_size=2)
    large, large_rows = _count(ehr_a, url, page_size=40)
    assert (small_rows, large_rows) == (2, 40)
    assert small == large


def test_sub_lists_cost_the_same_queries_whatever_their_length(ehr_a: Persona) -> None:
    def measure(rows: int) -> list[int]:
        appointment = AppointmentFactory.create(clinic=ehr_a.clinic, patient=PatientFactory.create(clinic=ehr_a.clinic))
        now = timezone.now()
        AttendanceRecord.objects.bulk_create(
            AttendanceRecord(appointment=appointment, status="missed", previous_status="scheduled", recorded_at=now)
            for _ in range(rows)
        )
        group = SupportGroupFactory.create(clinic=ehr_a.clinic)
        session = GroupSessionFactory.create(group=group)
        patients = PatientFactory.create_batch(rows, clinic=ehr_a.clinic)
        GroupMembership.objects.bulk_create(
            GroupMembership(group=group, patient=p, joined_on=now.date()) for p in patients
        )
        GroupAttendance.objects.bulk_create(
            GroupAttendance(session=session, patient=p, status="attended") for p in patients
        )
        return [
            _count(ehr_a, f"/api/v1/appointments/{appointment.pk}/attendance/")[0],
            _count(ehr_a, f"/api/v1/support-groups/{group.pk}/members/")[0],
            _count(ehr_a, f"/api/v1/group-sessions/{session.pk}/attendance/")[0],
        ]

    assert measure(1) == measure(25)


@pytest.mark.parametrize("url", ["/api/v1/patients/", "/api/v1/appointments/"])
def test_a_list_page_for_a_bearer_token_is_two_queries(ehr_a: Persona, url: str) -> None:
    """The token with its client and clinic, then the page with its access event in one
    statement: nothing else. (Three before: the access event was an INSERT of its own; four
    before that: the client and clinic were a query of their own.)"""
    LISTS[url](ehr_a.clinic, 40)
    for page_size in (2, 40):
        with CaptureQueriesContext(connection) as captured:
            response = ehr_a.api.get(url, {"page_size": page_size})
        assert response.status_code == 200
        statements = [query["sql"] for query in captured.captured_queries]
        assert len(statements) == 2, statements
        assert "oauth2_provider_accesstoken" in statements[0]
        assert "INSERT INTO clinic_accessevent" in statements[1]
