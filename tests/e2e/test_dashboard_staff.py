"""A clinic admin invites a staff member, who sets a password, enrols an authenticator, sees the
recovery codes and is signed in; then signs in again with a recovery code. In a real browser,
through the real sign-in, every page under the policy and axe-core."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from django.core import mail
from django_otp.oath import TOTP

from clinic.models import Role
from tests.e2e.conftest import StaffLogin, Visit, check_page, sign_in, staff_login
from tests.factories import MembershipFactory

NEW_PASSWORD = "harbour lights evening 2026"


@pytest.fixture
def admin_login(transactional_db: None) -> StaffLogin:
    membership = MembershipFactory.create(role=Role.ADMIN, user__is_staff=False)
    return staff_login(membership.user)


def _code_from_secret(text: str) -> str:
    secret = text.replace(" ", "").strip()
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    return str(TOTP(key, step=30, digits=6).token()).zfill(6)


def test_an_admin_invites_a_member_who_enrols_and_signs_in_then_uses_a_recovery_code(
    live_server: Any, admin_login: StaffLogin, browser_visit: Visit, settings: Any
) -> None:
    settings.AFTERCARE_PUBLIC_URL = live_server.url
    page = sign_in(browser_visit, live_server.url, admin_login, next_path="/staff/")
    assert page.url == f"{live_server.url}/staff/"
    check_page(browser_visit)

    # The admin invites a case manager.
    page.fill("#id_invite-first_name", "Nadia")
    page.fill("#id_invite-last_name", "Okafor")
    page.fill("#id_invite-email", "nadia@example.org")
    page.fill("#id_invite-username", "nadia.okafor")
    page.select_option("#id_invite-role", Role.CASE_MANAGER)
    with page.expect_navigation():
        page.click("button:has-text('Invite')")
    page.wait_for_load_state("networkidle")
    link = page.input_value("#invite-link")
    assert link.startswith(f"{live_server.url}/invite/")
    assert page.get_by_role("row", name=re.compile("Nadia Okafor")).is_visible()
    check_page(browser_visit)
    assert len(mail.outbox) == 1
    assert link in mail.outbox[0].body

    # The admin signs out; the invitee opens the link and chooses a password.
    with page.expect_navigation():
        page.click("button:has-text('Sign out')")
    browser_visit.open(link)
    assert page.locator("h1").inner_text() == "Welcome, Nadia Okafor"
    check_page(browser_visit)
    page.fill("#id_new_password1", NEW_PASSWORD)
    page.fill("#id_new_password2", NEW_PASSWORD)
    with page.expect_navigation():
        page.click("button:has-text('Set my password')")
    page.wait_for_load_state("networkidle")

    # Enrolment: the QR code and the key as text; the code computed from the text.
    assert page.url == f"{live_server.url}/enrol/"
    assert page.locator("img.qr").get_attribute("src").startswith("data:image/svg+xml")
    check_page(browser_visit)
    page.fill("#id_code", _code_from_secret(page.inner_text("#totp-secret")))
    with page.expect_navigation():
        page.click("button:has-text('Confirm and sign in')")
    page.wait_for_load_state("networkidle")

    # The recovery codes, shown once; the member is signed in.
    assert page.url == f"{live_server.url}/enrol/recovery-codes/"
    codes = [code.strip() for code in page.locator(".codes code").all_inner_texts()]
    assert len(codes) == 10
    assert page.locator("button", has_text="Sign out").is_visible()
    assert "Nadia Okafor" in page.locator(".who").inner_text()
    check_page(browser_visit)
    with page.expect_navigation():
        page.click("a:has-text('I have saved them, continue')")
    page.wait_for_load_state("networkidle")
    check_page(browser_visit)

    # Signed out, then in again with a recovery code in the same box.
    with page.expect_navigation():
        page.click("button:has-text('Sign out')")
    page.wait_for_load_state("networkidle")
    check_page(browser_visit)
    login = StaffLogin("nadia.okafor", NEW_PASSWORD, b"", 30, 6, tuple(codes))
    page = sign_in(browser_visit, live_server.url, login, use_recovery=0)
    assert "/sign-in/" not in page.url
    assert page.locator("button", has_text="Sign out").is_visible()
    check_page(browser_visit)


@pytest.fixture
def team(transactional_db: None) -> dict[str, Any]:
    admin = MembershipFactory.create(role=Role.ADMIN, user__is_staff=False)
    clinician = MembershipFactory.create(
        clinic=admin.clinic, role=Role.CLINICIAN, user__first_name="Marcus", user__last_name="Oyelaran"
    )
    MembershipFactory.create(
        clinic=admin.clinic, role=Role.CLINICIAN, user__first_name="Lucia", user__last_name="Ferreira"
    )
    staff_login(clinician.user)  # has an authenticator to reset
    return {"admin": staff_login(admin.user), "clinician": clinician}


def test_an_admin_changes_a_role_and_resets_an_authenticator_with_plain_forms(
    live_server: Any, team: dict[str, Any], browser_visit: Visit
) -> None:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from clinic.models import StaffMembership
    from tests.e2e.conftest import off_the_loop

    clinician = team["clinician"]
    page = sign_in(browser_visit, live_server.url, team["admin"], next_path="/staff/")
    with page.expect_navigation():
        page.click("a:has-text('Marcus Oyelaran')")
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == "Marcus Oyelaran"
    check_page(browser_visit)

    page.select_option("#id_role-role", Role.CASE_MANAGER)
    with page.expect_navigation():
        page.click("button:has-text('Change role')")
    page.wait_for_load_state("networkidle")
    assert "now case manager" in page.locator(".messages").inner_text()
    check_page(browser_visit)

    # Reset needs the box ticked: without it, an error next to it and nothing removed.
    with page.expect_navigation():
        page.click("button:has-text('Reset authenticator')")
    page.wait_for_load_state("networkidle")
    assert page.locator("#id_mfa-confirm_error").is_visible()
    check_page(browser_visit)
    assert off_the_loop(lambda: TOTPDevice.objects.filter(user=clinician.user).exists())
    page.check("#id_mfa-confirm")
    with page.expect_navigation():
        page.click("button:has-text('Reset authenticator')")
    page.wait_for_load_state("networkidle")
    check_page(browser_visit)
    assert not off_the_loop(lambda: TOTPDevice.objects.filter(user=clinician.user).exists())
    assert off_the_loop(lambda: StaffMembership.objects.get(pk=clinician.pk).role) == Role.CASE_MANAGER
