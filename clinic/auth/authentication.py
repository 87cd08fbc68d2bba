"""Bearer tokens (RFC 6750) for integration clients: a token that is sent but not good is said to be so."""

from __future__ import annotations

from typing import Any

from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from rest_framework import exceptions
from rest_framework.request import Request

INVALID_TOKEN = "invalid_token"  # noqa: S105 (an error code)


class InvalidToken(exceptions.AuthenticationFailed):
    """RFC 6750 §3.1 `invalid_token`: unknown, expired or revoked, or its client or clinic deactivated."""

    default_detail = "The access token is invalid, expired or revoked: request a new one from /o/token/."
    default_code = INVALID_TOKEN


def invalid_token(request: Request, description: str) -> InvalidToken:
    """The 401 for a token that did not pass, with the challenge (`WWW-Authenticate`) naming why."""
    request.oauth2_error = {"error": INVALID_TOKEN, "error_description": description}  # type: ignore[attr-defined]
    return InvalidToken()


def sends_bearer_token(request: Request) -> bool:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(credentials.strip())


class BearerAuthentication(OAuth2Authentication):
    """django-oauth-toolkit's authentication, except that a bearer token which fails is a 401
    `invalid_token` at once. The toolkit answers None, and DRF goes on to the session and ends with
    "credentials were not provided", which sends an integrator looking for a missing header."""

    def authenticate(self, request: Request) -> Any:
        result = super().authenticate(request)
        if result is None and sends_bearer_token(request):
            error = getattr(request, "oauth2_error", None) or {}
            raise invalid_token(request, str(error.get("error_description") or "The access token is invalid."))
        return result
