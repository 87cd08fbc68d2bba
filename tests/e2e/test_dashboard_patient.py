"""The patient pages in a real browser: a clinician reads a Spanish-speaking patient's page, adds a
warning sign to the plan, prints it in Spanish, and books a weekly series with two weekdays."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from aftercare.models import AppointmentSeries, RiskFlag
from clinic.models import Role
from tests.aftercare.factories import ActivityFactory, AppointmentFactory, PlanFactory
from tests.e2e.conftest import StaffLogin, Visit, check_page, off_the_loop, sign_in, staff_login
from tests.factories import ClinicFactory, MembershipFactory, PatientFactory


@dataclass(frozen=True)
class Scene:
    login: StaffLogin
    patient_id: Any
    clinician_name: str


@pytest.fixture
def scene(transactional_db: None) -> Scene:
    clinic = ClinicFactory.create(time_zone="America/Chicago", phone="+1 312-555-0100")
    membership = MembershipFactory.create(
        clinic=clinic, role=Role.CLINICIAN, user__is_staff=False, user__first_name="Maya", user__last_name="Ortiz"
    )
    clinician = membership.user
    patient = PatientFactory.create(clinic=clinic, preferred_language="es", assigned_clinician=clinician)
    plan = PlanFactory.create(
        patient=patient,
        created_by=clinician,
        warning_signs=["Dejo de comer"],
        coping_strategies=["Respirar hondo"],
        emergency_plan={"contacts": [{"name": "Ana", "relationship": "hermana", "phone": "312-555-0111"}]},
    )
    ActivityFactory.create(plan=plan, kind="medication", medication="methadone", dose_schedule="60 mg diarios")
    now = timezone.now()
    for weeks, status in ((1, "missed"), (2, "missed"), (3, "attended")):
        AppointmentFactory.create(
            patient=patient,
            clinician=clinician,
            starts_at=now - datetime.timedelta(weeks=weeks),
            attendance_status=status,
        )
    RiskFlag.objects.create(
        clinic=clinic,
        patient=patient,
        rule="consecutive_missed",
        severity="medium",
        evidence=[
            {
                "type": "appointment",
                "id": "a",
                "starts_at": (now - datetime.timedelta(weeks=2)).isoformat(),
                "status": "missed",
            },
            {
                "type": "appointment",
                "id": "b",
                "starts_at": (now - datetime.timedelta(weeks=1)).isoformat(),
                "status": "missed",
            },
        ],
        raised_at=now,
        evidence_updated_at=now,
    )
    return Scene(staff_login(clinician), patient.pk, "Maya Ortiz")


def test_a_clinician_edits_a_spanish_plan_prints_it_and_books_a_weekly_series(
    live_server: Any, scene: Scene, browser_visit: Visit
) -> None:
    base = live_server.url
    patient_path = f"/patients/{scene.patient_id}/"
    page = sign_in(browser_visit, base, scene.login, next_path=patient_path)
    assert page.url == f"{base}{patient_path}"
    assert page.get_by_role("heading", level=1).count() == 1
    assert "Metadona" not in page.content()  # staff text stays English
    assert page.locator("text=Methadone").count() >= 1
    grid = page.locator("table.attendance-grid")
    assert grid.locator("th[scope=row]").count() == 4
    assert grid.locator("td.mark-missed").count() >= 1
    assert "Missed 2 in a row" in page.content()
    check_page(browser_visit)

    # The plan: add a warning sign.
    with page.expect_navigation():
        page.get_by_role("link", name="Edit the plan").click()
    check_page(browser_visit)
    signs = page.locator("textarea[name=warning_signs]")
    signs.fill(signs.input_value() + "\nNo duermo bien")
    with page.expect_navigation():
        page.get_by_role("button", name="Save the plan").click()
    assert "The plan is saved." in page.content()

    # The printable plan, in Spanish, with the new sign; printing hides the navigation.
    browser_visit.open(f"{base}{patient_path}plan/print/")
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.get_by_role("heading", name="Mis señales de alerta").is_visible()
    assert page.get_by_role("heading", name="En una emergencia").is_visible()
    assert page.locator("li", has_text="No duermo bien").is_visible()
    assert page.locator("text=988").first.is_visible()
    assert page.locator(".site-header").is_visible()
    check_page(browser_visit)
    page.emulate_media(media="print")
    assert not page.locator("nav").is_visible()
    assert not page.locator(".site-header").is_visible()
    assert not page.locator("[data-print]").is_visible()
    assert page.locator("li", has_text="No duermo bien").is_visible()
    page.emulate_media(media="screen")

    # A weekly series on Mondays and Thursdays at 18:00, four sessions.
    browser_visit.open(f"{base}{patient_path}series/new/")
    check_page(browser_visit)
    page.get_by_label("Monday").check()
    page.get_by_label("Thursday").check()
    page.fill("input[name=start_time]", "18:00")
    tomorrow = (timezone.now() + datetime.timedelta(days=1)).date().isoformat()
    page.fill("input[name=starts_on]", tomorrow)
    page.fill("input[name=count]", "4")
    assert page.locator("select[name=clinician] option:checked").inner_text() == scene.clinician_name
    page.select_option("select[name=kind]", label="Individual therapy")
    with page.expect_navigation():
        page.get_by_role("button", name="Book the series").click()
    assert page.url == f"{base}{patient_path}"
    assert "Weekly series booked: 4 sessions" in page.content()
    check_page(browser_visit)
    rule = off_the_loop(lambda: AppointmentSeries.objects.get(patient_id=scene.patient_id).rrule)
    assert rule == "FREQ=WEEKLY;BYDAY=MO,TH;COUNT=4"

    # Outside meetings: the form passes the same checks.
    browser_visit.open(f"{base}{patient_path}outside-meetings/new/")
    check_page(browser_visit)


@pytest.fixture
def front_desk_scene(scene: Scene) -> tuple[StaffLogin, Any]:
    from clinic.models import Patient

    clinic = Patient.objects.get(pk=scene.patient_id).clinic
    desk = MembershipFactory.create(clinic=clinic, role=Role.FRONT_DESK, user__is_staff=False)
    return staff_login(desk.user), scene.patient_id


def test_front_desk_opens_the_patient_page_without_clinical_detail(
    live_server: Any, front_desk_scene: tuple[StaffLogin, Any], browser_visit: Visit
) -> None:
    login, patient_id = front_desk_scene
    page = sign_in(browser_visit, live_server.url, login, next_path=f"/patients/{patient_id}/")
    assert page.url == f"{live_server.url}/patients/{patient_id}/"
    text = page.locator("main").inner_text()
    for clinical in ("Methadone", "Dejo de comer", "Missed 2 in a row", "Attendance", "plan"):
        assert clinical not in text, clinical
    assert page.get_by_role("link", name="Book a weekly series").is_visible()
    check_page(browser_visit)
