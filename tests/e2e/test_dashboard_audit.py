"""The auditor's and admin's pages in a real browser, after a real sign-in (password + TOTP): who
viewed a patient, the clinic's access log and its CSV export, and the clinic's settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from clinic.models import Role
from tests.e2e.conftest import StaffLogin, Visit, check_page, off_the_loop, sign_in, staff_login
from tests.factories import ClinicFactory, MembershipFactory, PatientFactory


@dataclass(frozen=True)
class Cast:
    patient_id: str
    clinic_id: str
    clinician: StaffLogin
    auditor: StaffLogin
    admin: StaffLogin


@pytest.fixture
def cast(transactional_db: None) -> Cast:
    clinic = ClinicFactory.create()

    def member(role: str, first: str, last: str) -> Any:
        return MembershipFactory.create(
            clinic=clinic, role=role, user__first_name=first, user__last_name=last, user__is_staff=False
        ).user

    clinician = member(Role.CLINICIAN, "Maya", "Okafor")
    auditor = member(Role.AUDITOR, "Ines", "Varga")
    admin = member(Role.ADMIN, "Sam", "Whitfield")
    patient = PatientFactory.create(clinic=clinic, assigned_clinician=clinician)
    return Cast(
        patient_id=str(patient.pk),
        clinic_id=str(clinic.pk),
        clinician=staff_login(clinician),
        auditor=staff_login(auditor),
        admin=staff_login(admin),
    )


def _sign_out(visit: Visit) -> None:
    with visit.page.expect_navigation():
        visit.page.get_by_role("button", name="Sign out").click()
    visit.page.wait_for_load_state("networkidle")


def test_the_auditor_sees_that_the_clinician_opened_the_patients_record(
    live_server: Any, cast: Cast, browser_visit: Visit
) -> None:
    page = browser_visit.page
    base = live_server.url
    # The clinician lands on their caseload (the patient appears in a list), then opens the record.
    sign_in(browser_visit, base, cast.clinician)
    assert page.url == f"{base}/caseload/"
    with page.expect_navigation():
        page.locator(f"a[href='/patients/{cast.patient_id}/']").first.click()
    assert page.url == f"{base}/patients/{cast.patient_id}/"
    _sign_out(browser_visit)

    access_path = f"/patients/{cast.patient_id}/access/"
    sign_in(browser_visit, base, cast.auditor, next_path=access_path)
    assert page.url == f"{base}{access_path}"
    rows = page.locator("table.access tbody tr", has_text="Maya Okafor")
    assert rows.count() == 2
    opened = rows.filter(has_text="Opened the record")
    listed = rows.filter(has_text="Appeared in a list")
    assert opened.count() == listed.count() == 1
    assert "Clinician" in opened.inner_text()
    check_page(browser_visit)

    # The date range works from the keyboard-usable form; a day without events says so.
    page.fill("input[name=date_from]", "2001-01-01")
    page.fill("input[name=date_to]", "2001-01-02")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    assert "Nobody read or changed this patient's records in these dates." in page.inner_text("main")
    check_page(browser_visit)

    browser_visit.open(f"{base}/access-log/")
    page.select_option("select[name=who]", label="Maya Okafor")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    assert page.locator("table.access tbody tr", has_text="Opened a record").count() >= 1
    check_page(browser_visit)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export these events as CSV").click()
    with open(download_info.value.path(), encoding="utf-8") as exported:
        text = exported.read()
    assert text.startswith("id,at,actor,action,")
    assert "Maya Okafor,Clinician" in text
    assert text.splitlines()[-1].startswith("# rows=")


def test_the_admin_changes_a_risk_threshold_and_a_reminder_offset(
    live_server: Any, cast: Cast, browser_visit: Visit
) -> None:
    from aftercare.models import RiskRuleSetting
    from clinic.models import Clinic

    page = browser_visit.page
    sign_in(browser_visit, live_server.url, cast.admin, next_path="/clinic-settings/")
    assert page.url.endswith("/clinic-settings/")
    check_page(browser_visit)

    page.fill("input[name=policy-reminder_offsets]", "24h, 2h")
    with page.expect_navigation():
        page.get_by_role("button", name="Save the reminder policy").click()
    assert "The reminder policy is saved." in page.inner_text("main")
    check_page(browser_visit)

    # Several rules have a "Medium at": each box is found in its rule's fieldset, as a screen reader
    # announces it (the legend names the rule).
    box = page.get_by_role("group", name="Consecutive missed sessions").get_by_label("Medium at")
    box.fill("30")  # past the bound: refused next to the box
    with page.expect_navigation():
        page.get_by_role("button", name="Save the risk rules").click()
    assert "Ensure this value is less than or equal to 20." in page.inner_text(
        "#id_risk-consecutive_missed__medium_at_error"
    )
    check_page(browser_visit)
    page.get_by_role("group", name="Consecutive missed sessions").get_by_label("Medium at").fill("3")
    with page.expect_navigation():
        page.get_by_role("button", name="Save the risk rules").click()
    assert "The risk rules are saved." in page.inner_text("main")
    assert "Sam Whitfield" in page.inner_text("main")  # the recent changes, by name
    check_page(browser_visit)

    offsets = off_the_loop(lambda: Clinic.objects.get(pk=cast.clinic_id).reminder_offsets_minutes)
    assert offsets == [24 * 60, 2 * 60]
    thresholds = off_the_loop(
        lambda: RiskRuleSetting.objects.get(clinic_id=cast.clinic_id, rule="consecutive_missed").thresholds
    )
    assert thresholds == {"medium_at": 3, "high_at": 3}
