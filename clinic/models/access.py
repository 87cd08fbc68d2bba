"""The access log: who read or changed which records, when, from where (HIPAA §164.312(b)).

One `AccessEvent` per API request an identified caller makes (a list names every id it returned in
one event), per admin page on patient data, and per export. A refused attempt on a record (another
clinic's, or one the caller's role may not see) is a `denied` event. The database refuses to
change or delete an event, whoever asks.
"""

from __future__ import annotations

import uuid

import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.utils import timezone

from clinic.models.consents import ACTOR_KEY_PATTERN
from clinic.models.integration import IntegrationClient
from clinic.models.organisation import Clinic


class AccessAction(models.TextChoices):
    VIEW = "view", "View"
    LIST = "list", "List"
    CREATE = "create", "Create"
    UPDATE = "update", "Update"
    DELETE = "delete", "Delete"
    EXPORT = "export", "Export"
    DENIED = "denied", "Denied"


class AccessEvent(models.Model):
    # The references carry no database constraint: a constraint check is a lookup and a row lock on
    # the clinic, user or client for every request logged, and the log must never stand in the way
    # of (or be held up by) a write to those rows. Django still refuses to delete them (PROTECT).
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    at = models.DateTimeField(default=timezone.now, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, db_constraint=False, related_name="+")
    # `user:<id>` or `client:<id>`: the same key the change history carries.
    actor = models.CharField(max_length=64)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, db_constraint=False, related_name="+"
    )
    client = models.ForeignKey(
        IntegrationClient, on_delete=models.PROTECT, null=True, db_constraint=False, related_name="+"
    )
    action = models.CharField(max_length=10, choices=AccessAction.choices)
    # What was read or written: the API resource or model name, and the ids involved.
    object_type = models.CharField(max_length=60)
    object_ids = ArrayField(models.UUIDField(), default=list)
    # The patients whose records these were, so an auditor can ask "who saw this patient?".
    patient_ids = ArrayField(models.UUIDField(), default=list)
    method = models.CharField(max_length=7)
    # The path without its query string (ids only; a query string may hold search terms).
    path = models.CharField(max_length=300)
    status_code = models.PositiveSmallIntegerField()
    ip = models.GenericIPAddressField(null=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["clinic", "-at"], name="access_clinic_at"),
            GinIndex(fields=["patient_ids"], name="access_patients"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(actor__regex=ACTOR_KEY_PATTERN), name="access_actor_is_a_key"),
        ]
        triggers = [
            pgtrigger.Protect(name="access_log_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"Access event {self.pk}"
