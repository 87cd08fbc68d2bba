"""Signing in to the dashboard in a real browser: one form, one submit, under the policy."""

from __future__ import annotations

from typing import Any

import pytest

from clinic.models import Role
from tests.e2e.conftest import StaffLogin, Visit, check_page, sign_in, staff_login
from tests.factories import MembershipFactory


@pytest.fixture
def clinician_login(transactional_db: None) -> StaffLogin:
    membership = MembershipFactory.create(role=Role.CLINICIAN, user__is_staff=False)
    return staff_login(membership.user)


def test_the_sign_in_page_is_accessible_and_works_with_the_keyboard_alone(
    live_server: Any, clinician_login: StaffLogin, browser_visit: Visit
) -> None:
    page = browser_visit.page
    response = browser_visit.open(f"{live_server.url}/")
    assert response.status == 200
    assert page.url == f"{live_server.url}/sign-in/"
    check_page(browser_visit)
    # Keyboard alone: the skip link first (it moves to the content), then the three boxes in
    # order, and Enter submits.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    page.keyboard.type(clinician_login.username)
    page.keyboard.press("Tab")
    page.keyboard.type(clinician_login.password)
    page.keyboard.press("Tab")
    page.keyboard.type(clinician_login.code())
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    assert "/sign-in/" not in page.url
    assert page.locator("button", has_text="Sign out").is_visible()
    check_page(browser_visit)


def test_a_wrong_code_keeps_the_visitor_signed_out(
    live_server: Any, clinician_login: StaffLogin, browser_visit: Visit
) -> None:
    wrong = StaffLogin(**{**clinician_login.__dict__, "key": b"0" * 20})
    page = sign_in(browser_visit, live_server.url, wrong)
    assert page.url.endswith("/sign-in/")
    assert page.get_by_role("alert").inner_text().startswith("The username, password or code is not right")
    check_page(browser_visit)
