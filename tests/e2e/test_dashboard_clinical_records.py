"""The patient page's clinical records in a real browser, under the CSP and axe-core: a clinician
records a step down from residential care, a missed methadone dose and a drug screen through the
forms (no JavaScript needed), marks the dose entered in error, and sees a refused form again with
its error."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone

from aftercare.models import CareTransition, DrugScreen, MedicationEvent
from clinic.models import Role
from tests.aftercare.factories import ActivityFactory, PlanFactory
from tests.e2e.conftest import StaffLogin, Visit, check_page, off_the_loop, sign_in, staff_login
from tests.factories import ClinicFactory, MembershipFactory, PatientFactory


@pytest.fixture
def scene(transactional_db: None) -> tuple[StaffLogin, Any]:
    clinic = ClinicFactory.create(time_zone="America/Chicago")
    membership = MembershipFactory.create(clinic=clinic, role=Role.CLINICIAN, user__is_staff=False)
    patient = PatientFactory.create(clinic=clinic, assigned_clinician=membership.user)
    plan = PlanFactory.create(patient=patient, created_by=membership.user)
    ActivityFactory.create(plan=plan, kind="medication", medication="methadone", dose_schedule="60 mg daily")
    return staff_login(membership.user), patient.pk


def test_a_clinician_records_a_transition_a_dose_and_a_screen_and_corrects_one(
    live_server: Any, scene: tuple[StaffLogin, Any], browser_visit: Visit
) -> None:
    login, patient_id = scene
    base = live_server.url
    path = f"/patients/{patient_id}/"
    yesterday = (timezone.localdate() - datetime.timedelta(days=1)).isoformat()
    page = sign_in(browser_visit, base, login, next_path=path)
    for heading in ("Care transitions", "Medication events", "Drug screens"):
        assert page.get_by_role("heading", name=heading).is_visible()
    check_page(browser_visit)

    page.get_by_text("Record a care transition").click()
    page.select_option("select[name=transition-direction]", "entered_aftercare")
    page.select_option("select[name=transition-level_of_care]", "residential")
    page.fill("input[name=transition-occurred_on]", yesterday)
    page.fill("input[name=transition-source]", "Hillside Residential")
    check_page(browser_visit)  # the open form, too
    with page.expect_navigation():
        page.get_by_role("form", name="Record a care transition").get_by_role("button", name="Record").click()
    assert "The care transition is recorded." in page.content()
    assert "Hillside Residential" in page.locator("#care-transitions").inner_text()

    page.get_by_text("Record a medication event").click()
    page.select_option("select[name=medication-medication]", "methadone")
    page.select_option("select[name=medication-kind]", "dose_missed")
    page.fill("input[name=medication-occurred_on]", yesterday)
    with page.expect_navigation():
        page.get_by_role("form", name="Record a medication event").get_by_role("button", name="Record").click()
    assert "The medication event is recorded." in page.content()

    page.get_by_text("Record a drug screen").click()
    page.fill("input[name=screen-collected_on]", yesterday)
    page.select_option("select[name=screen-result_methadone]", "negative")
    page.select_option("select[name=screen-result_fentanyl]", "positive")
    with page.expect_navigation():
        page.get_by_role("form", name="Record a drug screen").get_by_role("button", name="Record").click()
    screens = page.locator("#drug-screens").inner_text()
    assert "Methadone: Negative (unexpected)" in screens
    assert "Fentanyl: Positive (unexpected)" in screens
    check_page(browser_visit)

    events = page.locator("#medication-events")
    events.get_by_label("Why is it wrong?").fill("Dose was taken; charted on the wrong day.")
    with page.expect_navigation():
        events.get_by_role("button", name="Mark entered in error").click()
    assert "The medication event is marked entered in error." in page.content()
    assert page.locator("#medication-events tr.entered-in-error").count() == 1
    check_page(browser_visit)

    # A refused form comes back on its own page with the error next to its field.
    page.get_by_text("Record a medication event").click()
    page.select_option("select[name=medication-kind]", "take_home_dispensed")
    page.fill("input[name=medication-occurred_on]", yesterday)
    with page.expect_navigation():
        page.get_by_role("form", name="Record a medication event").get_by_role("button", name="Record").click()
    assert page.locator("#id_medication-days_covered_error").is_visible()
    check_page(browser_visit)

    counts = off_the_loop(
        lambda: (
            CareTransition.objects.count(),
            MedicationEvent.objects.filter(entered_in_error=True).count(),
            DrugScreen.objects.count(),
        )
    )
    assert counts == (1, 1, 1)
