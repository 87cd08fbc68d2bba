"""The pages people open work in a real browser under the Content-Security-Policy: nothing is
blocked, nothing complains in the console, and the API docs render the schema's operations."""

from __future__ import annotations

from typing import Any, TypeVar

import pytest
from django.conf import settings

from aftercare.reminders.unsubscribe import unsubscribe_url
from tests.e2e.conftest import Visit, off_the_loop
from tests.factories import PatientFactory

T = TypeVar("T")


def test_the_api_docs_render_the_schema_under_the_policy(live_server: Any, browser_visit: Visit) -> None:
    response = browser_visit.open(f"{live_server.url}/api/docs/")
    assert response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    operation = browser_visit.page.locator(".opblock-summary-path", has_text="/api/v1/patients/").first
    operation.wait_for(state="visible", timeout=15_000)
    assert browser_visit.page.locator(".opblock").count() > 20
    assert browser_visit.problems() == []


def test_the_admin_sign_in_page_works_under_the_policy(live_server: Any, browser_visit: Visit) -> None:
    response = browser_visit.open(f"{live_server.url}/admin/login/")
    assert response.status == 200
    assert browser_visit.page.locator("input[name=username]").is_visible()
    # The admin's stylesheet applied: its header is not the browser's default (transparent).
    header = browser_visit.page.eval_on_selector("#header", "element => getComputedStyle(element).backgroundColor")
    assert header not in {"", "rgba(0, 0, 0, 0)"}
    assert browser_visit.problems() == []


@pytest.fixture
def unsubscribe_path(transactional_db: None) -> str:
    # Committed for the live server's thread, before the browser starts (see `browser_visit`).
    patient = PatientFactory.create()
    return unsubscribe_url(patient.pk).removeprefix(settings.AFTERCARE_PUBLIC_URL)


def test_the_unsubscribe_page_works_under_the_policy(
    live_server: Any, unsubscribe_path: str, browser_visit: Visit
) -> None:
    response = browser_visit.open(f"{live_server.url}{unsubscribe_path}")
    assert response.status == 200
    assert browser_visit.page.locator("button[type=submit]").is_visible()
    width = browser_visit.page.eval_on_selector("body", "element => getComputedStyle(element).maxWidth")
    assert width != "none", "the page's stylesheet did not apply"
    assert browser_visit.problems() == []


@pytest.fixture
def leaving_clinician(transactional_db: None) -> dict[str, Any]:
    """A clinic admin signed in (their session cookie), a clinician with two patients who is
    leaving, and a case manager to take the patients over; committed before the browser starts."""
    from django.test import Client

    from clinic.models import Role, StaffMembership
    from tests.factories import ClinicFactory, MembershipFactory, UserFactory, verified_login

    clinic = ClinicFactory.create()
    admin = UserFactory.create(is_staff=True)
    MembershipFactory.create(user=admin, clinic=clinic, role=Role.ADMIN)
    leaving = MembershipFactory.create(clinic=clinic, role=Role.CLINICIAN)
    successor = MembershipFactory.create(clinic=clinic, role=Role.CASE_MANAGER)
    patients = PatientFactory.create_batch(2, clinic=clinic, assigned_clinician=leaving.user)
    client = Client()
    verified_login(client, admin)
    return {
        "session": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "membership": StaffMembership.objects.get(pk=leaving.pk),
        "successor": successor.user,
        "patients": [patient.pk for patient in patients],
    }


def test_a_clinic_admin_hands_a_leaving_clinicians_patients_over_in_the_admin(
    live_server: Any, leaving_clinician: dict[str, Any], browser_visit: Visit
) -> None:
    from clinic.models import Patient, StaffMembership

    membership: StaffMembership = leaving_clinician["membership"]

    def still_active() -> bool:
        return off_the_loop(lambda: StaffMembership.objects.get(pk=membership.pk).is_active)

    page = browser_visit.page
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": leaving_clinician["session"], "url": live_server.url}]
    )
    response = browser_visit.open(f"{live_server.url}/admin/clinic/staffmembership/{membership.pk}/change/")
    assert response.status == 200

    # Deactivating someone who still has patients is refused until the admin says who takes them.
    page.uncheck("input[name=is_active]")
    page.click("input[name=_save]")
    page.wait_for_load_state("networkidle")
    assert page.locator(".errorlist").first.is_visible()
    assert still_active()

    successor = leaving_clinician["successor"]
    page.uncheck("input[name=is_active]")
    page.select_option("select[name=reassign_to]", str(successor.pk))
    page.click("input[name=_save]")
    page.wait_for_load_state("networkidle")
    assert not still_active()
    taken_over = off_the_loop(
        lambda: set(
            Patient.objects.filter(pk__in=leaving_clinician["patients"]).values_list("assigned_clinician", flat=True)
        )
    )
    assert taken_over == {successor.pk}
    assert browser_visit.problems() == []
