"""The base every Aftercare table shares: UUID ids and creation/update times."""

from __future__ import annotations

import uuid

import pgtrigger
from django.db import models
from django.utils import timezone


class TimeStampedModel(models.Model):
    """UUID primary key plus `created_at` / `updated_at` (aware UTC).

    `updated_at` is what integration clients sync on (`updated_since`), so it must move on every
    write, including bulk `QuerySet.update()` and raw SQL that never pass through `save()`:
    a trigger stamps it whenever a writer left it unchanged.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        triggers = [
            pgtrigger.Trigger(
                name="stamp_updated_at",
                when=pgtrigger.Before,
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(new__updated_at=pgtrigger.F("old__updated_at")),
                func="NEW.updated_at = clock_timestamp(); RETURN NEW;",
            )
        ]
