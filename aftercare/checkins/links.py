"""The two links in a check-in email: the private page (one check-in, expires, used once) and the
one-click opt-out (one patient, never expires).

No patient signs in: the signed token is the only credential. The check-in link names a CheckIn by
its id, a random UUID that says nothing about the patient or the clinic, and the CheckIn row is
the only thing an answer can be written to. Each link has its own salt, so neither validates as
the other nor as a reminder's unsubscribe token.

Neither token is ever logged: the paths they sit in are redacted like the unsubscribe link's
(`clinic.privacy.redact_path`), and the views mark their refusals as already logged.
"""

from __future__ import annotations

import datetime
import uuid

from django.conf import settings
from django.core import signing

_CHECKIN_SALT = "aftercare.checkins.link"
_OPT_OUT_SALT = "aftercare.checkins.opt-out"
# "." rather than ":" keeps the URL free of characters some mail clients refuse to link.
_SEPARATOR = "."
# Real tokens are under 100 characters: anything much longer is not worth verifying.
_MAX_TOKEN_LENGTH = 200
CHECKIN_PATH = "/c/"
OPT_OUT_PATH = "/c/stop/"


def link_lifetime() -> datetime.timedelta:
    return datetime.timedelta(hours=settings.AFTERCARE_CHECKIN_LINK_HOURS)


class LinkExpired(Exception):
    """A genuine check-in link, past its lifetime."""


def _base() -> str:
    # The deployment's public address (required outside debug), never the host a request named.
    return str(settings.AFTERCARE_PUBLIC_URL).rstrip("/")


def checkin_token(checkin_id: uuid.UUID) -> str:
    # Timestamped: the signature itself expires, whatever the row says.
    return signing.TimestampSigner(salt=_CHECKIN_SALT, sep=_SEPARATOR).sign(checkin_id.hex)


def checkin_id_from_token(token: str) -> uuid.UUID | None:
    """The check-in a token names; None when it was not made by `checkin_token` (tampered, or made
    for another purpose). Raises LinkExpired for a genuine token past `link_lifetime()`."""
    if len(token) > _MAX_TOKEN_LENGTH:
        return None
    signer = signing.TimestampSigner(salt=_CHECKIN_SALT, sep=_SEPARATOR)
    try:
        return uuid.UUID(hex=signer.unsign(token, max_age=link_lifetime()))
    except signing.SignatureExpired:
        raise LinkExpired from None
    except (signing.BadSignature, ValueError):
        return None


def checkin_url(checkin_id: uuid.UUID) -> str:
    return f"{_base()}{CHECKIN_PATH}{checkin_token(checkin_id)}/"


def _opt_out_signer() -> signing.Signer:
    # No expiry, as the reminders' unsubscribe link: withdrawing consent must keep working for as
    # long as the message exists, and an old token can still only stop check-ins.
    return signing.Signer(salt=_OPT_OUT_SALT, sep=_SEPARATOR)


def opt_out_token(patient_id: uuid.UUID) -> str:
    return _opt_out_signer().sign(patient_id.hex)


def patient_id_from_opt_out_token(token: str) -> uuid.UUID | None:
    if len(token) > _MAX_TOKEN_LENGTH:
        return None
    try:
        return uuid.UUID(hex=_opt_out_signer().unsign(token))
    except (signing.BadSignature, ValueError):
        return None


def opt_out_url(patient_id: uuid.UUID) -> str:
    return f"{_base()}{OPT_OUT_PATH}{opt_out_token(patient_id)}/"
