"""Who is calling, and for which clinic: resolved once per request from the token or the session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rest_framework import exceptions
from rest_framework.request import Request

from clinic.auth.authentication import INACTIVE_CLIENT, invalid_token
from clinic.auth.scopes import ROLE_SCOPES
from clinic.models import Clinic, IntegrationClient, StaffMembership, User

CLINIC_HEADER = "X-Clinic"


def actor_key(user: User | None, client: IntegrationClient | None) -> str:
    """A stable, PHI-free name for whoever acted: `client:<id>` or `user:<id>` (as the change history,
    the access log and idempotency keys write it)."""
    if client is not None:
        return f"client:{client.pk}"
    return f"user:{user.pk if user is not None else None}"


def client_ip(request: Any) -> str | None:
    """The caller's address, behind the proxies `AFTERCARE_TRUSTED_PROXY_COUNT` says to trust."""
    from axes.helpers import get_client_ip_address

    return get_client_ip_address(request) or None


@dataclass(frozen=True, slots=True)
class Caller:
    clinic: Clinic
    scopes: frozenset[str]
    user: User | None = None
    client: IntegrationClient | None = None
    role: str | None = None

    @property
    def key(self) -> str:
        """A stable, PHI-free identifier of the actor (for idempotency keys and logs)."""
        return actor_key(self.user, self.client)

    def has_scopes(self, required: frozenset[str]) -> bool:
        return required <= self.scopes


def caller_of_client(request: Request, token: Any, client: IntegrationClient | None) -> Caller:
    """The caller a token names: its integration client, while that client and its clinic are active."""
    if client is None or not client.is_active or not client.clinic.is_active:
        # Its tokens stop with it, as a revoked token would.
        raise invalid_token(request, INACTIVE_CLIENT)
    # Scopes taken away from a client after its token was issued are taken away at once.
    granted = frozenset(token.scope.split()) & frozenset(client.scopes)
    return Caller(clinic=client.clinic, scopes=granted, client=client)


def _caller_from_token(request: Request, token: Any) -> Caller:
    client = IntegrationClient.objects.select_related("clinic").filter(application_id=token.application_id).first()
    return caller_of_client(request, token, client)


def _caller_from_session(request: Request, user: User) -> Caller:
    memberships = list(
        StaffMembership.objects.select_related("clinic").filter(user=user, is_active=True, clinic__is_active=True)
    )
    wanted = request.headers.get(CLINIC_HEADER)
    if wanted:
        chosen = [m for m in memberships if m.clinic.slug == wanted]
        if not chosen:
            # Same answer whether the clinic exists or not: no existence leak.
            raise exceptions.PermissionDenied(f"You are not a member of the clinic named in {CLINIC_HEADER}.")
    elif len(memberships) > 1:
        raise exceptions.ValidationError(
            {CLINIC_HEADER: [f"You work for several clinics: name one (its slug) in the {CLINIC_HEADER} header."]}
        )
    else:
        chosen = memberships
    if not chosen:
        raise exceptions.PermissionDenied("You are not a member of any active clinic.")
    membership = chosen[0]
    return Caller(
        clinic=membership.clinic,
        scopes=ROLE_SCOPES[membership.role],
        user=user,
        role=membership.role,
    )


def _verified(request: Request) -> bool:
    user = getattr(request._request, "user", None)
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified is not None and is_verified())


def get_caller(request: Request) -> Caller:
    """The caller of an authenticated request. Raises 401 when there is none."""
    cached: Caller | None = getattr(request, "_aftercare_caller", None)
    if cached is not None:
        return cached
    token = request.auth
    if token is not None and hasattr(token, "application_id"):
        caller = _caller_from_token(request, token)
    elif request.user is not None and request.user.is_authenticated and isinstance(request.user, User):
        # A session that passed the password but not the second factor is not signed in.
        if not _verified(request):
            raise exceptions.NotAuthenticated("Sign in with your authenticator code first.")
        caller = _caller_from_session(request, request.user)
    else:
        raise exceptions.NotAuthenticated()
    request._aftercare_caller = caller  # type: ignore[attr-defined]
    return caller
