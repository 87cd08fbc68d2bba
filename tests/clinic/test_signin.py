"""Staff sign-in: lock-out after six wrong passwords (per account and per client IP), sessions
that end when idle or too old or when the password changes, and a log of every attempt."""

from __future__ import annotations

import datetime
import logging
from typing import Any

import pytest
import time_machine
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice

from clinic.models import Role
from clinic.services.mfa import mfa_enroll
from tests.conftest import Persona

PASSWORD = "correct horse battery staple 7"
LOGIN = "/admin/login/"


@pytest.fixture
def nurse(make_staff: Any, clinic_a: Any) -> Any:
    persona = make_staff(clinic_a, Role.ADMIN, username="nurse.ruiz", is_staff=True)
    persona.user.set_password(PASSWORD)
    persona.user.save()
    persona.user.enrolment = mfa_enroll(user=persona.user)
    return persona.user


def code(user: Any) -> str:
    """What the nurse's authenticator app shows right now."""
    device = user.enrolment.device
    device.refresh_from_db()
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"


def authenticator(user: Any) -> str:
    return str(user.enrolment.device.persistent_id)


def recovery_device(user: Any) -> str:
    return str(StaticDevice.objects.get(user=user).persistent_id)


def sign_in(
    client: Client,
    username: str,
    password: str,
    ip: str = "203.0.113.5",
    token: str = "",
    device: str = "",
    **headers: Any,
) -> Any:
    """The admin sign-in form: the code is checked against the device chosen (the authenticator or
    the recovery codes); django-otp does not try every device in turn."""
    form = {"username": username, "password": password, "otp_device": device, "otp_token": token, "next": "/admin/"}
    return client.post(LOGIN, form, REMOTE_ADDR=ip, **headers)


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_six_wrong_passwords_lock_the_account_even_for_the_right_one(nurse: Any) -> None:
    client = Client()
    for _ in range(5):
        assert sign_in(client, "nurse.ruiz", "wrong").status_code == 200  # the form again
    assert not signed_in(client)
    sixth = sign_in(client, "nurse.ruiz", "wrong")
    assert sixth.status_code == 429
    locked = sign_in(Client(), "nurse.ruiz", PASSWORD, ip="198.51.100.9")  # even from elsewhere
    assert locked.status_code == 429
    assert not signed_in(Client())


def test_five_wrong_passwords_then_the_right_one_signs_in(nurse: Any) -> None:
    client = Client()
    for _ in range(5):
        sign_in(client, "nurse.ruiz", "wrong")
    assert sign_in(client, "nurse.ruiz", PASSWORD, token=code(nurse), device=authenticator(nurse)).status_code == 302
    assert signed_in(client)


def test_the_right_password_without_the_authenticator_code_does_not_sign_in(nurse: Any) -> None:
    client = Client()
    assert sign_in(client, "nurse.ruiz", PASSWORD).status_code == 200
    assert not signed_in(client)
    assert (
        sign_in(client, "nurse.ruiz", PASSWORD, token="000000" if code(nurse) != "000000" else "111111").status_code
        == 200
    )
    assert not signed_in(client)
    assert sign_in(client, "nurse.ruiz", PASSWORD, token=code(nurse), device=authenticator(nurse)).status_code == 302
    assert signed_in(client)


def test_a_recovery_code_signs_in_once(nurse: Any) -> None:
    recovery = nurse.enrolment.recovery_codes[0]
    assert sign_in(Client(), "nurse.ruiz", PASSWORD, token=recovery, device=recovery_device(nurse)).status_code == 302
    again = Client()
    assert sign_in(again, "nurse.ruiz", PASSWORD, token=recovery, device=recovery_device(nurse)).status_code == 200
    assert not signed_in(again)


def test_a_session_without_the_second_factor_gets_nothing_from_the_api(nurse: Any) -> None:
    from rest_framework.test import APIClient

    half = APIClient()
    half.force_login(nurse)  # password only
    assert half.get("/api/v1/patients/").status_code == 401
    assert half.get("/admin/").status_code == 302  # back to the sign-in page


def test_one_address_trying_many_accounts_is_locked_out(nurse: Any) -> None:
    client = Client()
    for index in range(6):
        sign_in(client, f"someone{index}", "guess", ip="192.0.2.44")
    assert sign_in(client, "nurse.ruiz", PASSWORD, ip="192.0.2.44").status_code == 429
    assert (
        sign_in(
            Client(), "nurse.ruiz", PASSWORD, ip="192.0.2.45", token=code(nurse), device=authenticator(nurse)
        ).status_code
        == 302
    )


def test_behind_a_trusted_proxy_the_forwarded_client_address_is_the_one_locked_out(nurse: Any, settings: Any) -> None:
    settings.AXES_IPWARE_PROXY_COUNT = 1
    settings.AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
    proxy = "10.0.0.2"
    for index in range(6):
        Client().post(LOGIN, {"username": f"x{index}", "password": "guess"}, REMOTE_ADDR=proxy,
                      HTTP_X_FORWARDED_FOR="192.0.2.77, 10.0.0.1")  # fmt: skip
    other = sign_in(
        Client(), "nurse.ruiz", PASSWORD, ip=proxy, token=code(nurse), device=authenticator(nurse),
        HTTP_X_FORWARDED_FOR="192.0.2.78, 10.0.0.1",
    )  # fmt: skip
    assert other.status_code == 302, "another client behind the same proxy is not locked out"


def test_an_idle_session_expires_and_so_does_an_old_one(make_staff: Any, clinic_a: Any) -> None:
    with time_machine.travel(datetime.datetime(2026, 11, 2, 9, 0, tzinfo=datetime.UTC), tick=False) as clock:
        persona: Persona = make_staff(clinic_a, Role.CLINICIAN)
        assert persona.api.get("/api/v1/patients/").status_code == 200
        clock.shift(datetime.timedelta(minutes=14))
        assert persona.api.get("/api/v1/patients/").status_code == 200
        clock.shift(datetime.timedelta(minutes=16))
        assert persona.api.get("/api/v1/patients/").status_code in (401, 403)

        active: Persona = make_staff(clinic_a, Role.CLINICIAN)
        for _ in range(12 * 6 + 1):  # busy all day, a request every ten minutes, past 12 hours
            clock.shift(datetime.timedelta(minutes=10))
            response = active.api.get("/api/v1/patients/")
        assert response.status_code in (401, 403), "no session outlives 12 hours"


def test_changing_the_password_ends_the_users_other_sessions(make_staff: Any, clinic_a: Any) -> None:
    persona: Persona = make_staff(clinic_a, Role.CLINICIAN)
    assert persona.user is not None
    persona.user.set_password("a brand new passphrase 42")
    persona.user.save()
    assert persona.api.get("/api/v1/patients/").status_code in (401, 403)


def test_every_attempt_is_logged_without_the_password(nurse: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    sign_in(Client(), "nurse.ruiz", "wrong-secret-value")
    sign_in(Client(), "nurse.ruiz", PASSWORD, token=code(nurse), device=authenticator(nurse))
    lines = [record.getMessage() for record in caplog.records if record.name == "clinic.signin"]
    assert any("sign-in failed for username 'nurse.ruiz'" in line for line in lines)
    assert any(f"sign-in: user {nurse.pk}" in line for line in lines)
    everything = "\n".join(record.getMessage() for record in caplog.records)
    assert "wrong-secret-value" not in everything
    assert PASSWORD not in everything


def test_staff_mfa_gives_an_authenticator_and_recovery_codes_once(nurse: Any) -> None:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("staff_mfa", "--username", "nurse.ruiz", stdout=out)
    text = out.getvalue()
    assert "otpauth://totp/" in text
    codes = [line.strip() for line in text.splitlines() if line.startswith("  ")]
    assert len(codes) == 10
    assert sign_in(Client(), "nurse.ruiz", PASSWORD, token=codes[0], device=recovery_device(nurse)).status_code == 302
    old_recovery = nurse.enrolment.recovery_codes[1]  # replaced: no longer works
    assert (
        sign_in(Client(), "nurse.ruiz", PASSWORD, token=old_recovery, device=recovery_device(nurse)).status_code == 200
    )


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/admin/", "javascript:alert(1)", "/\\evil"])
def test_a_rejected_next_lands_on_a_page_that_exists(nurse: Any, target: str) -> None:
    """An unsafe `next=` used to fall back to Django's `/accounts/profile/`: a 404 after signing in."""
    client = Client()
    form = {
        "username": "nurse.ruiz",
        "password": PASSWORD,
        "otp_device": authenticator(nurse),
        "otp_token": code(nurse),
        "next": target,
    }
    response = client.post(f"{LOGIN}?next={target}", form, REMOTE_ADDR="203.0.113.5", follow=True)
    assert signed_in(client)
    assert response.status_code == 200
    assert response.redirect_chain
    assert all("evil" not in url and "javascript" not in url for url, _ in response.redirect_chain)
    assert response.redirect_chain[-1][0] == "/admin/"


def test_the_second_step_does_not_echo_the_password_into_the_page(nurse: Any) -> None:
    """django-otp renders the password back into the form once it is right (waiting for the code):
    it would then sit in the page's HTML, in the browser's cache and history of form data."""
    response = sign_in(Client(), "nurse.ruiz", PASSWORD)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="otp_device"' in page  # the second step: the password was right
    assert PASSWORD not in page
    assert PASSWORD.replace(" ", "&#x20;") not in page
