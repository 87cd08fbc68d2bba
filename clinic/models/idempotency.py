"""Stored first responses for POST requests sent with an `Idempotency-Key` header."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from clinic.models.organisation import Clinic


class IdempotencyKey(models.Model):
    """One key per (clinic, caller). Holds the first 2xx response to replay it; purged after a TTL.

    The stored body can hold PHI: it lives in the same database as the record it describes and is
    purged by the `idempotency_keys_purge` task.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    caller = models.CharField(max_length=80, help_text="'client:<id>' or 'user:<id>'.")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and canonical body.")
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    response_headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clinic", "caller", "key"], name="idempotency_key_unique_per_caller"),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]

    def __str__(self) -> str:
        return f"Idempotency key {self.pk}"
