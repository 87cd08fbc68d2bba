"""Staff sign-in: lock-out after six wrong passwords (per account and per client IP), sessions
that end when idle or too old or when the password changes, and a log of every attempt."""

from __future__ import annotations

import datetime
import logging
from typing import Any

import pytest
import time_machine
from django.test import Client

from clinic.models import Role
from tests.conftest import Persona

PASSWORD = "correct horse battery staple 7"
LOGIN = "/admin/login/"


@pytest.fixture
def nurse(make_staff: Any, clinic_a: Any) -> Any:
    persona = make_staff(clinic_a, Role.ADMIN, username="nurse.ruiz", is_staff=True)
    persona.user.set_password(PASSWORD)
    persona.user.save()
    return persona.user


def sign_in(client: Client, username: str, password: str, ip: str = "203.0.113.5") -> Any:
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=ip)


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
    assert sign_in(client, "nurse.ruiz", PASSWORD).status_code == 302
    assert signed_in(client)


def test_one_address_trying_many_accounts_is_locked_out(nurse: Any) -> None:
    client = Client()
    for index in range(6):
        sign_in(client, f"someone{index}", "guess", ip="192.0.2.44")
    assert sign_in(client, "nurse.ruiz", PASSWORD, ip="192.0.2.44").status_code == 429
    assert sign_in(Client(), "nurse.ruiz", PASSWORD, ip="192.0.2.45").status_code == 302


def test_behind_a_trusted_proxy_the_forwarded_client_address_is_the_one_locked_out(nurse: Any, settings: Any) -> None:
    settings.AXES_IPWARE_PROXY_COUNT = 1
    settings.AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
    proxy = "10.0.0.2"
    for index in range(6):
        Client().post(LOGIN, {"username": f"x{index}", "password": "guess"}, REMOTE_ADDR=proxy,
                      HTTP_X_FORWARDED_FOR="192.0.2.77, 10.0.0.1")  # fmt: skip
    other = Client().post(LOGIN, {"username": "nurse.ruiz", "password": PASSWORD, "next": "/admin/"},
                          REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="192.0.2.78, 10.0.0.1")  # fmt: skip
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
    sign_in(Client(), "nurse.ruiz", PASSWORD)
    lines = [record.getMessage() for record in caplog.records if record.name == "clinic.signin"]
    assert any("sign-in failed for username 'nurse.ruiz'" in line for line in lines)
    assert any(f"sign-in: user {nurse.pk}" in line for line in lines)
    everything = "\n".join(record.getMessage() for record in caplog.records)
    assert "wrong-secret-value" not in everything
    assert PASSWORD not in everything
