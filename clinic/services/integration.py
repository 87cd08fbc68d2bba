"""Integration clients: provisioning, secret rotation, revocation."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import AccessToken, Application

from clinic.auth.scopes import unknown_scopes
from clinic.models import Clinic, IntegrationClient


@dataclass(frozen=True)
class ClientCredentials:
    client: IntegrationClient
    client_id: str
    client_secret: str  # plain text: shown once, stored only hashed


def _validate_scopes(scopes: list[str]) -> None:
    if not scopes:
        raise ValidationError({"scopes": "Name at least one scope."})
    unknown = unknown_scopes(scopes)
    if unknown:
        raise ValidationError({"scopes": f"Unknown scope(s): {', '.join(unknown)}."})


@transaction.atomic
def integration_client_create(*, clinic: Clinic, name: str, scopes: list[str]) -> ClientCredentials:
    _validate_scopes(scopes)
    if IntegrationClient.objects.filter(clinic=clinic, name=name).exists():
        raise ValidationError({"name": "This clinic already has a client with that name."})
    secret = generate_client_secret()
    application = Application(
        name=f"{clinic.slug}: {name}"[:255],
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
        hash_client_secret=True,
        skip_authorization=True,
    )
    application.full_clean()
    application.save()
    client = IntegrationClient(clinic=clinic, application=application, name=name, scopes=sorted(set(scopes)))
    client.full_clean()
    client.save(force_insert=True)
    return ClientCredentials(client=client, client_id=application.client_id, client_secret=secret)


@transaction.atomic
def integration_client_rotate_secret(*, client: IntegrationClient) -> ClientCredentials:
    """A new secret; the old one and every token issued with it stop working at once."""
    application = Application.objects.select_for_update().get(pk=client.application_id)
    secret = generate_client_secret()
    application.client_secret = secret
    application.save(update_fields=["client_secret", "updated"])
    AccessToken.objects.filter(application=application).delete()
    return ClientCredentials(client=client, client_id=application.client_id, client_secret=secret)
