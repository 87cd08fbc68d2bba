"""Second factor for staff (django-otp): one TOTP authenticator and ten one-time recovery codes."""

from __future__ import annotations

from dataclasses import dataclass

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


@transaction.atomic
def mfa_enroll(*, user: User) -> Enrolment:
    """Replaces whatever second factor the user had."""
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    recovery = StaticDevice.objects.create(user=user, name="recovery codes", confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=recovery, token=code) for code in codes])
    return Enrolment(otpauth_url=str(device.config_url), recovery_codes=codes, device=device)
