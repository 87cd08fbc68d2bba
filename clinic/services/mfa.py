"""Second factor for staff (django-otp): one TOTP authenticator and ten one-time recovery codes."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.models import User

RECOVERY_CODES = 10


@dataclass(frozen=True)
class Enrolment:
    otpauth_url: str
    recovery_codes: list[str]
    device: TOTPDevice


def _recovery_codes(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    recovery = StaticDevice.objects.create(user=user, name="recovery codes", confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=recovery, token=code) for code in codes])
    return codes


@transaction.atomic
def mfa_enroll(*, user: User, key: str | None = None) -> Enrolment:
    """Replaces whatever second factor the user had: a new authenticator (with `key`, hex, when
    given: the demo keeps its users' keys across loads) and ten new recovery codes."""
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    extra = {"key": key} if key else {}
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True, **extra)
    codes = _recovery_codes(user)
    return Enrolment(otpauth_url=str(device.config_url), recovery_codes=codes, device=device)


def mfa_secret_text(device: TOTPDevice) -> str:
    """The authenticator's key as people type it into an app: base32, in groups of four."""
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def mfa_is_enrolled(*, user: User) -> bool:
    return bool(TOTPDevice.objects.filter(user=user, confirmed=True).exists())


@transaction.atomic
def mfa_enrol_start(*, user: User, device_id: int | None = None) -> TOTPDevice:
    """The authenticator a member is setting up on screen: unconfirmed (it signs nobody in) until
    they type a code from it. `device_id` names the one already shown to them, kept while it is
    still theirs and unconfirmed (a reload shows the same QR code); any other unconfirmed one goes.
    Refused once they have a confirmed authenticator: replacing one is `mfa_reset` (an admin's)."""
    if mfa_is_enrolled(user=user):
        raise ValidationError({"code": "This account already has an authenticator."})
    pending = TOTPDevice.objects.filter(user=user, confirmed=False)
    kept = pending.filter(pk=device_id).first() if device_id is not None else None
    pending.exclude(pk=kept.pk if kept else None).delete()
    return kept or TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


def mfa_enrol_confirm(*, user: User, device_id: int, code: str) -> list[str]:
    """Confirm the authenticator being set up with a code it shows; returns ten new recovery codes
    (shown once: replacing any the member had). A wrong code confirms nothing and raises a
    ValidationError naming `code`; the device's own throttling applies, as at sign-in."""
    device = TOTPDevice.objects.filter(user=user, pk=device_id, confirmed=False).first()
    if device is None or mfa_is_enrolled(user=user):
        raise ValidationError({"code": "This set-up has ended: start again."})
    # Outside the transaction below: a wrong code's throttle count must stay written.
    if not device.verify_token("".join(code.split())):
        raise ValidationError({"code": "That code is not right. Type the 6 digits your app shows now."})
    with transaction.atomic():
        confirmed = TOTPDevice.objects.filter(pk=device.pk, confirmed=False).update(confirmed=True)
        if confirmed != 1:  # confirmed twice at once (two tabs): the first one won
            raise ValidationError({"code": "This set-up has ended: start again."})
        return _recovery_codes(user)


@transaction.atomic
def mfa_reset(*, user: User) -> int:
    """Remove a member's authenticator and recovery codes: their session stops being verified at
    once, and they set up a new authenticator at their next sign-in. Returns how many went."""
    totp, _ = TOTPDevice.objects.filter(user=user).delete()
    static, _ = StaticDevice.objects.filter(user=user).delete()
    return int(totp + static)
