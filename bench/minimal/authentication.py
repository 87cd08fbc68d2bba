"""The baseline's authentication: DRF's TokenAuthentication with one indexed lookup."""

from __future__ import annotations

from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from bench.minimal.models import ApiToken
from bench.minimal.tokens import digest_of


class TokenUser:
    """Who a token names; DRF only asks whether they are authenticated."""

    is_authenticated = True

    def __init__(self, name: str) -> None:
        self.name = name


class BearerTokenAuthentication(TokenAuthentication):
    """`Authorization: Bearer <token>`, looked up by its digest: one indexed SELECT."""

    keyword = "Bearer"

    def authenticate_credentials(self, key: str) -> tuple[TokenUser, ApiToken]:
        try:
            token = ApiToken.objects.get(digest=digest_of(key))
        except ApiToken.DoesNotExist:
            raise AuthenticationFailed("Invalid token.") from None
        return TokenUser(token.name), token
