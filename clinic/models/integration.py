"""Integration clients: EHRs and other clinic systems calling the API with OAuth2 client credentials."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from oauth2_provider.models import Application

from clinic.models.base import TimeStampedModel
from clinic.models.organisation import Clinic


class IntegrationClient(TimeStampedModel):
    """Binds one OAuth2 application to one clinic and the scopes it may ever be granted.

    Kept beside django-oauth-toolkit's own Application model (rather than swapping it) so the
    toolkit's migrations stay untouched.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="integration_clients")
    application = models.OneToOneField(Application, on_delete=models.CASCADE, related_name="integration_client")
    name = models.CharField(max_length=200)
    scopes = ArrayField(models.CharField(max_length=40), default=list)
    is_active = models.BooleanField(default=True)

    class Meta(TimeStampedModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["clinic", "name"], name="integration_client_name_unique_per_clinic"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.clinic.slug})"
