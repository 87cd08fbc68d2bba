"""First sign-in: a member without an authenticator sets one up on screen, then sees their
recovery codes once."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
import time_machine
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.models import Role, User
from clinic.services.mfa import mfa_enrol_confirm, mfa_enrol_start
from tests.factories import MembershipFactory

PASSWORD = "a long enough pass phrase 2026"


@pytest.fixture
def newcomer(db: None) -> User:
    membership = MembershipFactory.create(role=Role.CLINICIAN, user__is_staff=False)
    user = membership.user
    user.set_password(PASSWORD)
    user.save()
    return user


def _sign_in(client: Client, user: User, next_path: str = "") -> Any:
    url = "/sign-in/" + (f"?next={next_path}" if next_path else "")
    return client.post(url, {"username": user.username, "password": PASSWORD, "code": ""})


def _secret_on(page: str) -> bytes:
    text = re.search(r'<code class="secret" id="totp-secret">([A-Z2-7 ]+)</code>', page)
    assert text is not None
    secret = text.group(1).replace(" ", "")
    return base64.b32decode(secret + "=" * (-len(secret) % 8))


def _code_for(key: bytes, at_offset: int = 0) -> str:
    totp = TOTP(key, step=30, digits=6)
    totp.time = totp.time + at_offset
    return str(totp.token()).zfill(6)


def test_a_member_without_an_authenticator_is_sent_to_enrol_still_signed_out(client: Client, newcomer: User) -> None:
    response = _sign_in(client, newcomer, "/staff/")
    assert response.status_code == 302
    assert response["Location"] == "/enrol/?next=%2Fstaff%2F"
    assert "_auth_user_id" not in client.session
    page = client.get(response["Location"])
    assert page.status_code == 200
    body = page.content.decode()
    assert 'src="data:image/svg+xml' in body
    assert 'alt="QR code' in body
    assert TOTPDevice.objects.get(user=newcomer).confirmed is False
    # The pending enrolment opens nothing else: the member is not signed in.
    assert client.get("/staff/")["Location"].startswith("/sign-in/")


def test_reloading_the_enrolment_page_keeps_the_same_key(client: Client, newcomer: User) -> None:
    _sign_in(client, newcomer)
    first = _secret_on(client.get("/enrol/").content.decode())
    second = _secret_on(client.get("/enrol/").content.decode())
    assert first == second
    assert TOTPDevice.objects.filter(user=newcomer).count() == 1


def test_the_right_code_confirms_signs_in_and_shows_the_recovery_codes_once(client: Client, newcomer: User) -> None:
    _sign_in(client, newcomer, "/staff/")
    key = _secret_on(client.get("/enrol/?next=/staff/").content.decode())
    response = client.post("/enrol/", {"code": _code_for(key), "next": "/staff/"})
    assert response.status_code == 302
    assert response["Location"] == "/enrol/recovery-codes/"
    assert TOTPDevice.objects.get(user=newcomer).confirmed is True
    codes_page = client.get("/enrol/recovery-codes/")
    assert codes_page.status_code == 200
    body = codes_page.content.decode()
    tokens = list(StaticDevice.objects.get(user=newcomer).token_set.values_list("token", flat=True))
    assert len(tokens) == 10
    assert all(token in body for token in tokens)
    assert 'href="/staff/"' in body  # then on to the page asked for
    assert client.session["_auth_user_id"] == str(newcomer.pk)
    # Once: a second look shows none of them.
    again = client.get("/enrol/recovery-codes/")
    assert again.status_code == 302
    assert not any(token in again.content.decode() for token in tokens)
    # Signed in with both factors: an admin-only page refuses the clinician instead of asking
    # them to sign in.
    assert client.get("/staff/").status_code == 403


def test_a_recovery_code_from_enrolment_signs_in_later(client: Client, newcomer: User) -> None:
    _sign_in(client, newcomer)
    key = _secret_on(client.get("/enrol/").content.decode())
    client.post("/enrol/", {"code": _code_for(key)})
    client.get("/enrol/recovery-codes/")
    client.post("/sign-out/")
    token = StaticDevice.objects.get(user=newcomer).token_set.first()
    assert token is not None
    response = client.post("/sign-in/", {"username": newcomer.username, "password": PASSWORD, "code": token.token})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_a_wrong_code_is_an_error_on_the_field_and_counts_as_a_failed_sign_in(client: Client, newcomer: User) -> None:
    from axes.models import AccessAttempt

    _sign_in(client, newcomer)
    key = _secret_on(client.get("/enrol/").content.decode())
    response = client.post("/enrol/", {"code": _code_for(key, at_offset=-3600)})
    assert response.status_code == 200
    assert 'id="id_code_error"' in response.content.decode()
    assert TOTPDevice.objects.get(user=newcomer).confirmed is False
    assert "_auth_user_id" not in client.session
    assert AccessAttempt.objects.get(username=newcomer.username).failures_since_start == 1


def test_repeated_wrong_codes_lock_the_account_out(client: Client, newcomer: User, settings: Any) -> None:
    _sign_in(client, newcomer)
    key = _secret_on(client.get("/enrol/").content.decode())
    statuses = [client.post("/enrol/", {"code": "000000"}).status_code for _ in range(settings.AXES_FAILURE_LIMIT)]
    assert statuses[-1] == 429
    locked = client.post("/enrol/", {"code": _code_for(key)})
    assert locked.status_code == 429
    assert TOTPDevice.objects.get(user=newcomer).confirmed is False


def test_the_pending_enrolment_expires_after_ten_minutes(client: Client, newcomer: User) -> None:
    with time_machine.travel("2026-12-02 12:00:00+00:00", tick=False):
        _sign_in(client, newcomer)
        key = _secret_on(client.get("/enrol/").content.decode())
    with time_machine.travel("2026-12-02 12:11:00+00:00", tick=False):
        response = client.post("/enrol/", {"code": _code_for(key)})
    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in/")
    assert TOTPDevice.objects.get(user=newcomer).confirmed is False
    assert "_auth_user_id" not in client.session
    assert client.get("/enrol/")["Location"].startswith("/sign-in/")


def test_the_enrolment_page_without_a_pending_sign_in_goes_to_sign_in(client: Client, db: None) -> None:
    assert client.get("/enrol/")["Location"].startswith("/sign-in/")
    assert client.post("/enrol/", {"code": "123456"})["Location"].startswith("/sign-in/")
    assert not TOTPDevice.objects.exists()


def test_enrolment_cannot_replace_an_authenticator_already_confirmed(newcomer: User) -> None:
    from django.core.exceptions import ValidationError

    device = mfa_enrol_start(user=newcomer)
    mfa_enrol_confirm(user=newcomer, device_id=device.pk, code=_code_for(device.bin_key))
    with pytest.raises(ValidationError):
        mfa_enrol_start(user=newcomer)
    with pytest.raises(ValidationError):
        mfa_enrol_confirm(user=newcomer, device_id=device.pk, code=_code_for(device.bin_key))
