"""Inviting a staff member: an account without a password, a membership, and a one-time link.

The link carries a token in the pattern of Django's password-reset tokens (its own key salt and
lifetime, `AFTERCARE_INVITE_HOURS`): an HMAC over the account's password hash, last sign-in and
email, so it stops working the moment the invitee sets a password, or after its lifetime.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes, force_str
from django.utils.html import format_html
from django.utils.http import base36_to_int, urlsafe_base64_decode, urlsafe_base64_encode

from clinic.models import Clinic, Role, StaffMembership, User
from clinic.services.clinics import membership_grant, membership_identifiers_set


class InviteTokenGenerator(PasswordResetTokenGenerator):
    key_salt = "aftercare.staff.invite"

    def check_token(self, user: Any, token: str | None) -> bool:
        """Django's check, with the invitation's lifetime instead of PASSWORD_RESET_TIMEOUT."""
        if not (user and token):
            return False
        try:
            ts_b36, _ = token.split("-")
            ts = base36_to_int(ts_b36)
        except ValueError:
            return False
        if not any(
            constant_time_compare(self._make_token_with_timestamp(user, ts, secret), token)
            for secret in [self.secret, *self.secret_fallbacks]
        ):
            return False
        return (self._num_seconds(self._now()) - ts) <= invite_lifetime().total_seconds()


invite_tokens = InviteTokenGenerator()


def invite_lifetime() -> datetime.timedelta:
    return datetime.timedelta(hours=settings.AFTERCARE_INVITE_HOURS)


@dataclass(frozen=True)
class Invitation:
    user: User
    membership: StaffMembership
    link: str
    emailed: bool


def invite_link(*, user: User) -> str:
    """The one-time link, on the deployment's public address (never a request's host)."""
    path = reverse(
        "dashboard:invite",
        kwargs={"uidb64": urlsafe_base64_encode(force_bytes(user.pk)), "token": invite_tokens.make_token(user)},
    )
    return f"{settings.AFTERCARE_PUBLIC_URL}{path}"


def _send(*, user: User, clinic: Clinic, link: str) -> bool:
    if not user.email:
        return False
    hours = settings.AFTERCARE_INVITE_HOURS
    text = (
        f"You have been invited to work in {clinic.name} on Aftercare.\n\n"
        f"Open this link within {hours} hours to choose your password and set up your authenticator app:\n"
        f"{link}\n\n"
        "The link works once. If it has expired, ask your clinic's administrator for a new one.\n"
    )
    message = mail.EmailMultiAlternatives(
        subject=f"Your Aftercare account at {clinic.name}",
        body=text,
        to=[user.email],
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(
        format_html(
            "<p>You have been invited to work in {} on Aftercare.</p>"
            '<p><a href="{}">Choose your password and set up your authenticator app</a> (within {} hours).</p>'
            "<p>The link works once. If it has expired, ask your clinic's administrator for a new one.</p>",
            clinic.name,
            link,
            hours,
        ),
        "text/html",
    )
    message.send()
    return True


@transaction.atomic
def staff_invite(
    *,
    clinic: Clinic,
    first_name: str,
    last_name: str,
    email: str,
    username: str,
    role: Role | str,
    external_id: str | None = None,
    npi: str | None = None,
) -> Invitation:
    """A new staff member of `clinic`: an account that cannot sign in until its owner opens the
    link and chooses a password, their membership with `role` (and, where known, the EHR's id of
    them and their NPI), and the link (emailed to them after the commit, and returned for the
    admin to pass on). Any refusal leaves nothing written."""
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": "This username is taken: choose another."})
    user = User(username=username, first_name=first_name, last_name=last_name, email=email, is_staff=False)
    user.set_unusable_password()
    user.full_clean()
    user.save(force_insert=True)
    membership = membership_grant(user=user, clinic=clinic, role=role)
    if external_id or npi:
        membership = membership_identifiers_set(membership=membership, external_id=external_id, npi=npi)
    link = invite_link(user=user)
    emailed = bool(email)
    if emailed:
        transaction.on_commit(lambda: _send(user=user, clinic=clinic, link=link))
    return Invitation(user=user, membership=membership, link=link, emailed=emailed)


def staff_invite_renew(*, membership: StaffMembership) -> Invitation:
    """A new link for a member who has not chosen a password yet (the earlier one stays valid
    until it expires)."""
    user = membership.user
    if user.has_usable_password():
        raise ValidationError("This member has already accepted the invitation.")
    link = invite_link(user=user)
    emailed = bool(user.email)
    if emailed:
        transaction.on_commit(lambda: _send(user=user, clinic=membership.clinic, link=link))
    return Invitation(user=user, membership=membership, link=link, emailed=emailed)


def invite_user(*, uidb64: str, token: str) -> User | None:
    """The invitee the link names while it is still good: unused, unexpired, and their account
    active in at least one active clinic. None otherwise."""
    try:
        pk = force_str(urlsafe_base64_decode(uidb64))
        user = User.objects.filter(pk=pk, is_active=True).first()
    except (ValueError, TypeError, OverflowError, ValidationError):
        return None
    if user is None or user.has_usable_password() or not invite_tokens.check_token(user, token):
        return None
    if not StaffMembership.objects.filter(user=user, is_active=True, clinic__is_active=True).exists():
        return None
    return user


@transaction.atomic
def invite_accept(*, uidb64: str, token: str, password: str) -> User:
    """Set the invitee's first password (Django's password validators). The token dies with it:
    a second use, even at the same moment, finds the account locked and its password set."""
    user = invite_user(uidb64=uidb64, token=token)
    if user is not None:
        user = User.objects.select_for_update().get(pk=user.pk)
    if user is None or user.has_usable_password() or not invite_tokens.check_token(user, token):
        raise ValidationError("This invitation link has been used or has expired.", code="invalid_invite")
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"new_password1": exc.error_list}) from exc
    user.set_password(password)
    user.save(update_fields=["password"])
    return user
