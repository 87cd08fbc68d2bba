"""The patient page: header, 26-week attendance grid, flags, upcoming sessions, change history."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pghistory
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aftercare.models import (
    ActivityKind,
    GroupAttendance,
    GroupMembership,
    OutsideMeeting,
    RiskFlag,
)
from aftercare.selectors.patients import attendance_grid
from clinic.models import AccessEvent, Role
from tests.aftercare.factories import (
    ActivityFactory,
    AppointmentFactory,
    GroupSessionFactory,
    PlanFactory,
    SupportGroupFactory,
)
from tests.factories import ClinicFactory, PatientFactory, integration_client

StaffClient = Callable[..., tuple[Any, Any]]


def _url(patient: Any) -> str:
    return f"/patients/{patient.pk}/"


def _flagged_patient(clinic: Any) -> Any:
    patient = PatientFactory.create(clinic=clinic)
    plan = PlanFactory.create(patient=patient, warning_signs=["Skipping meals", "Avoiding my sponsor"])
    ActivityFactory.create(
        plan=plan,
        kind=ActivityKind.MEDICATION,
        medication="buprenorphine",
        dose_schedule="16 mg daily",
        medication_started_on=datetime.date(2026, 9, 1),
    )
    missed_at = timezone.now() - datetime.timedelta(days=3)
    RiskFlag.objects.create(
        clinic=clinic,
        patient=patient,
        rule="consecutive_missed",
        severity="medium",
        evidence=[
            {
                "type": "appointment",
                "id": "x",
                "starts_at": (missed_at - datetime.timedelta(days=7)).isoformat(),
                "status": "missed",
            },
            {"type": "appointment", "id": "y", "starts_at": missed_at.isoformat(), "status": "missed"},
        ],
        raised_at=missed_at,
        evidence_updated_at=missed_at,
    )
    return patient


def test_a_clinician_sees_the_header_mat_flags_and_the_grid(db: None, staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    patient = _flagged_patient(clinic)
    client, _ = staff_client(clinic, Role.CLINICIAN)
    page = client.get(_url(patient)).content.decode()
    assert f"{patient.given_name} {patient.family_name}" in page
    assert patient.external_id in page
    assert "Buprenorphine, since 1 Sep 2026 (16 mg daily)" in page
    assert "Missed 2 in a row" in page
    assert '<table class="attendance-grid">' in page
    assert page.count('<th scope="row">') >= 4
    assert "Change history" in page


def test_front_desk_sees_no_clinical_detail(db: None, staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    patient = _flagged_patient(clinic)
    AppointmentFactory.create(
        patient=patient,
        kind=ActivityKind.MEDICATION,
        starts_at=timezone.now() + datetime.timedelta(days=2),
        ends_at=timezone.now() + datetime.timedelta(days=2, minutes=30),
    )
    client, _ = staff_client(clinic, Role.FRONT_DESK)
    response = client.get(_url(patient))
    assert response.status_code == 200
    page = response.content.decode()
    assert patient.phone in page
    assert patient.external_id in page
    assert "Appointment" in page  # the upcoming session, without its kind
    for clinical in (
        "Buprenorphine",
        "16 mg daily",
        "Skipping meals",
        "Missed 2 in a row",
        "Risk flags",
        "Attendance, last 26 weeks",
        "Change history",
        "Medication-assisted treatment",
        "MAT",
        "plan",
    ):
        assert clinical not in page, clinical


def test_the_page_is_in_the_access_log_as_a_view_of_the_patient(db: None, staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic)
    client, user = staff_client(clinic, Role.CASE_MANAGER)
    assert client.get(_url(patient)).status_code == 200
    event = AccessEvent.objects.get(user=user, object_type="dashboard.patient")
    assert event.action == "view"
    assert event.object_ids == [patient.pk]
    assert event.patient_ids == [patient.pk]


def test_another_clinics_patient_is_a_404_page_and_a_denied_event(db: None, staff_client: StaffClient) -> None:
    other = PatientFactory.create()
    client, user = staff_client(ClinicFactory.create(), Role.ADMIN)
    response = client.get(_url(other))
    assert response.status_code == 404
    assert other.given_name not in response.content.decode()
    event = AccessEvent.objects.get(user=user, object_type="dashboard.patient")
    assert event.action == "denied"
    assert event.object_ids == [other.pk]


def test_the_who_viewed_link_shows_only_to_roles_reading_the_access_log(db: None, staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic)
    admin, _ = staff_client(clinic, Role.ADMIN)
    clinician, _ = staff_client(clinic, Role.CLINICIAN)
    assert "Who viewed this record" not in clinician.get(_url(patient)).content.decode()
    admin_page = admin.get(_url(patient)).content.decode()
    try:
        from django.urls import reverse

        reverse("dashboard:patient_access", kwargs={"patient_id": patient.pk})
    except Exception:  # the audit page is not part of this build
        assert "Who viewed this record" not in admin_page
    else:
        assert "Who viewed this record" in admin_page


def test_the_auditor_reads_the_page_without_any_form_to_change_things(db: None, staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    patient = _flagged_patient(clinic)
    client, _ = staff_client(clinic, Role.AUDITOR)
    page = client.get(_url(patient)).content.decode()
    assert "Missed 2 in a row" in page
    assert "Read the plan" in page
    assert "Book a weekly series" not in page
    assert "Record an outside meeting" not in page
    assert 'method="post"' not in page.split('<main id="main"', 1)[1]


def test_the_history_names_who_changed_the_plan(db: None, staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic)
    client, user = staff_client(clinic, Role.CLINICIAN, user__first_name="Rosa", user__last_name="Marquez")
    response = client.post(
        f"/patients/{patient.pk}/plan/",
        {
            "status": "active",
            "warning_signs": "Staying in bed",
            "activities-TOTAL_FORMS": "0",
            "activities-INITIAL_FORMS": "0",
            "emergency-TOTAL_FORMS": "0",
            "emergency-INITIAL_FORMS": "0",
            "support-TOTAL_FORMS": "0",
            "support-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    page = client.get(_url(patient)).content.decode()
    history = page.split("Change history", 1)[1]
    assert "Rosa Marquez" in history
    assert "Plan created" in history
    assert f"user:{user.pk}" not in page


def test_the_grid_marks_each_week_with_a_symbol_and_words(db: None) -> None:
    clinic = ClinicFactory.create(time_zone="America/Chicago")
    patient = PatientFactory.create(clinic=clinic)
    now = datetime.datetime(2026, 12, 2, 18, 0, tzinfo=datetime.UTC)  # Wednesday
    AppointmentFactory.create(patient=patient, starts_at=now - datetime.timedelta(days=1), attendance_status="attended")
    AppointmentFactory.create(patient=patient, starts_at=now - datetime.timedelta(days=8), attendance_status="missed")
    AppointmentFactory.create(
        patient=patient,
        kind=ActivityKind.MEDICATION,
        starts_at=now - datetime.timedelta(days=15),
        attendance_status="late_cancelled",
    )
    AppointmentFactory.create(
        patient=patient, starts_at=now - datetime.timedelta(days=200), attendance_status="attended"
    )
    group = SupportGroupFactory.create(clinic=clinic)
    session = GroupSessionFactory.create(group=group, starts_at=now - datetime.timedelta(days=2))
    GroupAttendance.objects.create(session=session, patient=patient, status="excused")
    OutsideMeeting.objects.create(clinic=clinic, patient=patient, kind="twelve_step", date=datetime.date(2026, 11, 29))
    grid = attendance_grid(patient=patient, clinic=clinic, now=now)
    assert len(grid.weeks) == 26
    assert grid.weeks[-1] == datetime.date(2026, 11, 30)
    rows = {row.key: row for row in grid.rows}
    assert rows["individual"].cells[-1].text == "1 attended"
    assert rows["individual"].cells[-1].symbols == "✓"
    assert rows["individual"].cells[-2].state == "missed"
    assert rows["medication"].cells[-3].text == "1 missed"  # a late cancellation counts as missed
    assert rows["group"].cells[-1].state == "excused"
    assert rows["outside"].cells[-2].text == "1 attended"  # Sunday 29 Nov: the week before
    assert sum(sum(cell.marks.values()) for row in grid.rows for cell in row.cells) == 5  # not the one 200 days ago


def _patient_with_sessions(clinic: Any, count: int) -> Any:
    patient = _flagged_patient(clinic)
    now = timezone.now()
    group = SupportGroupFactory.create(clinic=clinic)
    GroupMembership.objects.create(group=group, patient=patient, joined_on=now.date() - datetime.timedelta(days=200))
    clinician = patient.plans.first().created_by
    for n in range(count):
        AppointmentFactory.create(
            patient=patient,
            clinician=clinician or AppointmentFactory.build(patient=patient).clinician,
            starts_at=now - datetime.timedelta(days=n + 1, hours=n % 5),
            attendance_status="missed" if n % 3 else "attended",
        )
        session = GroupSessionFactory.create(group=group, starts_at=now - datetime.timedelta(days=n + 1, hours=7))
        GroupAttendance.objects.create(session=session, patient=patient, status="attended")
        OutsideMeeting.objects.create(
            clinic=clinic, patient=patient, kind="smart", date=now.date() - datetime.timedelta(days=n)
        )
    for n in range(min(count, 12)):
        AppointmentFactory.create(patient=patient, starts_at=now + datetime.timedelta(days=n + 1))
        GroupSessionFactory.create(group=group, starts_at=now + datetime.timedelta(days=n + 1, hours=5))
    return patient


def test_the_page_costs_the_same_queries_for_5_or_100_sessions(
    db: None, staff_client: StaffClient, django_assert_max_num_queries: Any
) -> None:
    clinic = ClinicFactory.create()
    few, many = _patient_with_sessions(clinic, 5), _patient_with_sessions(clinic, 100)
    client, _ = staff_client(clinic, Role.CLINICIAN)
    client.get(_url(few))  # the session and the clinic, loaded once
    counts = []
    for patient in (few, many):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(_url(patient)).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    # 22: one of them reads the outreach log; two the check-ins (the answers, the latest check-in);
    # four the clinical records (care transitions, medication events, drug screens and their
    # results), whatever their number.
    with django_assert_max_num_queries(22):
        client.get(_url(many))


def test_the_outreach_log_is_on_the_page_for_care_staff_only(db: None, staff_client: StaffClient) -> None:
    from aftercare.services.outreach import outreach_record

    clinic = ClinicFactory.create()
    patient = _flagged_patient(clinic)
    clinician, user = staff_client(clinic, Role.CLINICIAN)
    from clinic.auth.caller import Caller
    from clinic.auth.scopes import ROLE_SCOPES

    by = Caller(clinic=clinic, scopes=ROLE_SCOPES[Role.CLINICIAN], user=user, role=Role.CLINICIAN)
    outreach_record(patient=patient, by=by, channel="phone", outcome="left_message", note="Asked to call back")
    page = clinician.get(_url(patient)).content.decode()
    assert "Asked to call back" in page
    assert f'action="/patients/{patient.pk}/outreach/"' in page
    auditor, _ = staff_client(clinic, Role.AUDITOR)
    read_only = auditor.get(_url(patient)).content.decode()
    assert "Asked to call back" in read_only
    assert "/outreach/" not in read_only
    front_desk, _ = staff_client(clinic, Role.FRONT_DESK)
    assert "Asked to call back" not in front_desk.get(_url(patient)).content.decode()


def test_the_history_names_an_integration_client_and_an_automatic_task(db: None, staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic)
    ehr = integration_client(clinic, ["plans:write"], name="Northwind EHR")
    with pghistory.context(actor=f"client:{ehr.pk}"):
        PlanFactory.create(patient=patient)
    with pghistory.context(actor="task:risk_sweep"):
        AppointmentFactory.create(patient=patient)
    client, _ = staff_client(clinic, Role.CLINICIAN)
    history = client.get(_url(patient)).content.decode().split("Change history", 1)[1]
    assert "Northwind EHR" in history
    assert "Automatic (risk sweep)" in history
    assert f"client:{ehr.pk}" not in history
