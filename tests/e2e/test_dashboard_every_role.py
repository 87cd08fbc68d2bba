"""Every role's start page, the refusal page and the not-found page, in a real browser with a real
sign-in: each lands where its work is, and each page passes the policy and axe-core."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from clinic.models import Role
from tests.e2e.conftest import StaffLogin, Visit, check_page, sign_in, staff_login
from tests.factories import ClinicFactory, MembershipFactory

START: dict[str, str] = {
    Role.ADMIN: "/caseload/",
    Role.CLINICIAN: "/caseload/",
    Role.CASE_MANAGER: "/caseload/",
    Role.FRONT_DESK: "/today/",
    Role.AUDITOR: "/access-log/",
}


@pytest.fixture
def logins(transactional_db: None) -> dict[str, StaffLogin]:
    clinic = ClinicFactory.create()
    return {
        role: staff_login(MembershipFactory.create(clinic=clinic, role=role, user__is_staff=False).user)
        for role in START
    }


def test_each_role_lands_on_its_own_start_page_and_is_refused_politely_elsewhere(
    live_server: Any, logins: dict[str, StaffLogin], browser_visit: Visit
) -> None:
    page = browser_visit.page
    base = live_server.url
    for role, login in logins.items():
        sign_in(browser_visit, base, login)
        assert page.url == f"{base}{START[role]}", role
        check_page(browser_visit)
        # Keyboard: the skip link comes first and moves to the page's content.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
        if role == Role.FRONT_DESK:
            # A page outside the role: the refusal page, in the layout, under the policy.
            response = browser_visit.open(f"{base}/flags/")
            assert response.status == 403
            assert "not part of your role" in page.inner_text("main")
            browser_visit.console.clear()  # the browser reports the 403 itself
            assert accessibility_ok(browser_visit)
        # Another clinic's (or no) record: the not-found page.
        response = browser_visit.open(f"{base}/patients/{uuid.uuid4()}/")
        assert response.status == 404
        assert "Not found" in page.inner_text("h1")
        browser_visit.console.clear()
        assert accessibility_ok(browser_visit)
        with page.expect_navigation():
            page.get_by_role("button", name="Sign out").click()


def accessibility_ok(visit: Visit) -> bool:
    from tests.e2e.conftest import accessibility_problems

    assert visit.problems() == []
    assert accessibility_problems(visit.page) == []
    return True
