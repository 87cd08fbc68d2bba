"""Signing in to the dashboard: one form with username, password and code, for every role."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django_otp.oath import TOTP

from clinic.models import AccessEvent, Role
from clinic.services.mfa import mfa_enroll
from tests.factories import ClinicFactory, MembershipFactory

PASSWORD = "a long enough pass phrase 2026"


def _member(role: str = Role.CLINICIAN, clinic: Any = None) -> tuple[Any, Any]:
    membership = MembershipFactory.create(role=role, clinic=clinic or ClinicFactory.create(), user__is_staff=False)
    user = membership.user
    user.set_password(PASSWORD)
    user.save()
    return user, mfa_enroll(user=user)


def _code(enrolment: Any) -> str:
    device = enrolment.device
    return str(TOTP(device.bin_key, step=device.step, digits=device.digits).token()).zfill(device.digits)


def test_a_signed_out_visitor_at_the_root_goes_to_the_sign_in_page(client: Client, db: None) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/sign-in/"
    page = client.get("/sign-in/")
    assert page.status_code == 200
    for name in ("username", "password", "code"):
        assert f'name="{name}"' in page.content.decode()


@pytest.mark.parametrize("role", [Role.ADMIN, Role.CLINICIAN, Role.CASE_MANAGER, Role.FRONT_DESK, Role.AUDITOR])
def test_every_role_signs_in_with_one_submit(client: Client, db: None, role: str) -> None:
    user, enrolment = _member(role)
    response = client.post("/sign-in/", {"username": user.username, "password": PASSWORD, "code": _code(enrolment)})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code in (200, 302)
    assert client.get("/sign-in/").status_code == 302  # already signed in


def test_a_recovery_code_works_in_the_same_box_once(client: Client, db: None) -> None:
    user, enrolment = _member()
    code = enrolment.recovery_codes[0]
    response = client.post("/sign-in/", {"username": user.username, "password": PASSWORD, "code": code})
    assert response.status_code == 302
    client.post("/sign-out/")
    again = client.post("/sign-in/", {"username": user.username, "password": PASSWORD, "code": code})
    assert again.status_code == 200
    assert "not right" in again.content.decode()


def test_a_wrong_code_does_not_say_the_password_was_right_and_counts_as_a_failure(client: Client, db: None) -> None:
    from axes.models import AccessAttempt

    user, _ = _member()
    wrong_code = client.post("/sign-in/", {"username": user.username, "password": PASSWORD, "code": "000000"})
    wrong_password = client.post("/sign-in/", {"username": user.username, "password": "nope", "code": "000000"})
    assert wrong_code.status_code == wrong_password.status_code == 200
    assert "The username, password or code is not right" in wrong_code.content.decode()
    assert "The username, password or code is not right" in wrong_password.content.decode()
    assert AccessAttempt.objects.get(username=user.username).failures_since_start == 2
    assert "_auth_user_id" not in client.session


def test_repeated_failures_lock_the_account_out(client: Client, db: None, settings: Any) -> None:
    user, enrolment = _member()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/sign-in/", {"username": user.username, "password": PASSWORD, "code": "000000"})
    locked = client.post("/sign-in/", {"username": user.username, "password": PASSWORD, "code": _code(enrolment)})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_sign_in_returns_to_the_page_asked_for_but_never_to_another_site(client: Client, db: None) -> None:
    user, enrolment = _member()
    response = client.post(
        "/sign-in/?next=https://evil.example/",
        {"username": user.username, "password": PASSWORD, "code": _code(enrolment)},
    )
    assert response["Location"] == "/"
    client.post("/sign-out/")
    user2, enrolment2 = _member()
    response = client.post(
        "/sign-in/", {"username": user2.username, "password": PASSWORD, "code": _code(enrolment2), "next": "/flags/"}
    )
    assert response["Location"] == "/flags/"


def test_sign_out_needs_a_post_and_ends_the_session(client: Client, db: None) -> None:
    user, enrolment = _member()
    client.post("/sign-in/", {"username": user.username, "password": PASSWORD, "code": _code(enrolment)})
    assert client.get("/sign-out/").status_code == 405
    assert client.post("/sign-out/").status_code == 302
    assert client.get("/")["Location"] == "/sign-in/"


def test_a_member_of_several_clinics_switches_only_to_their_own(client: Client, db: None) -> None:
    user, enrolment = _member()
    second = MembershipFactory.create(user=user, role=Role.CLINICIAN).clinic
    foreign = ClinicFactory.create()
    client.post("/sign-in/", {"username": user.username, "password": PASSWORD, "code": _code(enrolment)})
    client.post("/clinic/", {"clinic": str(foreign.pk)})
    assert client.session.get("dashboard_clinic") is None
    client.post("/clinic/", {"clinic": str(second.pk)})
    assert client.session["dashboard_clinic"] == str(second.pk)
    assert not AccessEvent.objects.filter(clinic=foreign).exists()


def _signed_in(client: Client) -> tuple[Any, Any]:
    user, enrolment = _member()
    response = client.post("/sign-in/", {"username": user.username, "password": PASSWORD, "code": _code(enrolment)})
    assert response.status_code == 302
    return user, enrolment


def test_an_idle_dashboard_session_ends_and_the_page_asks_for_sign_in_again(client: Client, db: None) -> None:
    import datetime

    import time_machine
    from django.utils import timezone

    _signed_in(client)
    assert client.get("/patients/").status_code == 200
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=16)):
        response = client.get("/patients/")
    assert response.status_code == 302
    assert response["Location"] == "/sign-in/?next=/patients/"


def test_a_password_change_ends_the_members_other_dashboard_sessions(client: Client, db: None) -> None:
    user, _ = _signed_in(client)
    assert client.get("/patients/").status_code == 200
    user.set_password("another long pass phrase 2027")
    user.save()
    response = client.get("/patients/")
    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in/")


def test_every_sign_in_and_failure_is_logged_by_user_id_without_the_password(
    client: Client, db: None, caplog: Any
) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="clinic.signin")
    user, _ = _signed_in(client)
    client.post("/sign-out/")
    client.post("/sign-in/", {"username": user.username, "password": PASSWORD, "code": "000000"})
    text = caplog.text
    assert f"sign-in: user {user.pk}" in text
    assert "sign-in failed" in text
    assert PASSWORD not in text
