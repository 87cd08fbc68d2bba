"""django-oauth-toolkit's request validator, with the clinic's say on who may authenticate."""

from __future__ import annotations

from typing import Any

from oauth2_provider.oauth2_validators import OAuth2Validator

from clinic.models import IntegrationClient


class ClientValidator(OAuth2Validator):
    """A client whose integration client or clinic is deactivated fails client authentication:
    the token endpoint answers `invalid_client` (401, RFC 6749 §5.2), as for a wrong secret, rather
    than issuing a token that no API call would accept."""

    def authenticate_client(self, request: Any, *args: Any, **kwargs: Any) -> bool:
        if not super().authenticate_client(request, *args, **kwargs):
            return False
        return IntegrationClient.objects.filter(
            application_id=request.client.pk, is_active=True, clinic__is_active=True
        ).exists()
