"""A clinician's caseload in a real browser: signed in for real, the flagged patient first with the
reason in words, a search by MRN, and the row opened, all with the keyboard alone; the patient
list for front desk."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
from django.utils import timezone

from aftercare.models import RiskFlag, RiskRule, Severity
from clinic.models import Role
from tests.e2e.conftest import StaffLogin, Visit, check_page, sign_in, staff_login
from tests.factories import ClinicFactory, MembershipFactory, PatientFactory


def _missed(at: str) -> dict[str, Any]:
    return {"type": "appointment", "id": str(uuid.uuid4()), "starts_at": at, "status": "missed"}


@pytest.fixture
def world(transactional_db: None, settings: Any) -> dict[str, Any]:
    clinic = ClinicFactory.create(time_zone="America/Chicago")
    clinician = MembershipFactory.create(clinic=clinic, role=Role.CLINICIAN, user__is_staff=False).user
    front_desk = MembershipFactory.create(clinic=clinic, role=Role.FRONT_DESK, user__is_staff=False).user
    calm = [PatientFactory.create(clinic=clinic, assigned_clinician=clinician) for _ in range(3)]
    flagged = PatientFactory.create(clinic=clinic, assigned_clinician=clinician, external_id="MRN-777001")
    now = timezone.now()
    RiskFlag.objects.create(
        clinic=clinic, patient=flagged, rule=RiskRule.CONSECUTIVE_MISSED, severity=Severity.HIGH,
        # 02:30 UTC on the 25th is Tuesday the 24th in Chicago.
        evidence=[_missed("2026-11-25T02:30:00+00:00"), _missed("2026-11-30T18:00:00+00:00")],
        raised_at=now - datetime.timedelta(hours=1), evidence_updated_at=now,
    )  # fmt: skip
    return {
        "clinician": staff_login(clinician),
        "front_desk": staff_login(front_desk),
        "flagged": {"id": str(flagged.pk), "name": f"{flagged.family_name}, {flagged.given_name}"},
        "calm": [f"{p.family_name}, {p.given_name}" for p in calm],
    }


def _tab_to(page: Any, selector: str, *, most: int = 40) -> None:
    """Press Tab until the element `selector` names has the focus (and fail if it never does)."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement === document.querySelector(s)", selector):
            return
    raise AssertionError(f"{selector} is not reachable with Tab")


def test_a_clinician_signs_in_sees_the_flagged_patient_first_searches_by_mrn_and_opens_the_row(
    live_server: Any, world: dict[str, Any], browser_visit: Visit
) -> None:
    login: StaffLogin = world["clinician"]
    page = sign_in(browser_visit, live_server.url, login)
    # A clinician's home is the caseload.
    assert page.url == f"{live_server.url}/caseload/"
    assert page.locator("h1").inner_text() == "My caseload"
    check_page(browser_visit)

    rows = page.locator("tbody tr")
    assert rows.count() == 4
    first = rows.nth(0)
    assert world["flagged"]["name"] in first.inner_text()
    assert "Missed 2 in a row: Tue 24 Nov, Mon 30 Nov" in first.inner_text()
    assert first.locator(".chip.high").inner_text() == "High"
    assert {rows.nth(i).locator("th").inner_text() for i in (1, 2, 3)} == set(world["calm"])

    # The keyboard alone: to the search box, type the MRN, Enter submits the form.
    page.locator("main").focus()
    _tab_to(page, "input[name=q]")
    page.keyboard.type("MRN-777001")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    assert "q=MRN-777001" in page.url
    assert page.locator("tbody tr").count() == 1
    check_page(browser_visit)

    # Then to the row's link, and Enter opens the patient.
    link = page.locator("tbody tr th a")
    href = f"/patients/{world['flagged']['id']}/"
    assert link.get_attribute("href") == href
    page.locator("main").focus()
    _tab_to(page, "tbody tr th a")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == f"{live_server.url}{href}"


def test_front_desk_finds_a_patient_without_any_risk_shown(
    live_server: Any, world: dict[str, Any], browser_visit: Visit
) -> None:
    page = sign_in(browser_visit, live_server.url, world["front_desk"], next_path="/patients/")
    assert page.url == f"{live_server.url}/patients/"
    assert page.locator("h1").inner_text() == "Patients"
    check_page(browser_visit)
    assert page.locator(".chip").count() == 0
    assert "Missed" not in page.locator("main").inner_text()
    page.locator("main").focus()
    _tab_to(page, "input[name=q]")
    page.keyboard.type("MRN-777001")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    assert page.locator("tbody tr").count() == 1
    assert page.locator("tbody tr th a").get_attribute("href") == f"/patients/{world['flagged']['id']}/"
    check_page(browser_visit)
    # The caseload is not front desk's.
    response = browser_visit.open(f"{live_server.url}/caseload/")
    assert response.status == 403


@pytest.fixture
def long_caseload(transactional_db: None) -> dict[str, Any]:
    """A clinician with 55 patients of one family name (and 5 of another): two pages of a search."""
    clinic = ClinicFactory.create(time_zone="America/Chicago")
    clinician = MembershipFactory.create(clinic=clinic, role=Role.CLINICIAN, user__is_staff=False).user
    for _ in range(55):
        PatientFactory.create(clinic=clinic, assigned_clinician=clinician, family_name="Lindqvist")
    for _ in range(5):
        PatientFactory.create(clinic=clinic, assigned_clinician=clinician, family_name="Okonkwo")
    return {"clinician": staff_login(clinician)}


def test_a_clinician_walks_the_pages_of_a_search_with_the_keyboard(
    live_server: Any, long_caseload: dict[str, Any], browser_visit: Visit
) -> None:
    page = sign_in(browser_visit, live_server.url, long_caseload["clinician"], next_path="/caseload/?q=lindqvist")
    rows = page.locator("tbody tr")
    assert rows.count() == 50
    first_page = rows.locator("th").all_inner_texts()
    assert page.locator("a[rel=prev]").count() == 0
    check_page(browser_visit)

    # Tab to "Next page": the search is kept, and the second page holds the other five.
    page.locator("main").focus()
    _tab_to(page, "a[rel=next]", most=80)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    assert "cursor=" in page.url
    assert "q=lindqvist" in page.url
    assert page.locator("input[name=q]").input_value() == "lindqvist"
    assert rows.count() == 5
    assert all("Lindqvist" in name for name in rows.locator("th").all_inner_texts())
    assert page.locator("a[rel=next]").count() == 0
    check_page(browser_visit)

    # And back with "Previous page": the first page again, as it was.
    page.locator("main").focus()
    _tab_to(page, "a[rel=prev]", most=40)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    assert rows.locator("th").all_inner_texts() == first_page
