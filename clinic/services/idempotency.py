from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from clinic.models import IdempotencyKey


def idempotency_keys_purge(*, now: datetime | None = None) -> int:
    """Delete stored responses older than the TTL (they may hold PHI). Returns how many went."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.AFTERCARE_IDEMPOTENCY_TTL_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
