"""The access log: who read or changed which records, when, from where (HIPAA §164.312(b)).

One `AccessEvent` per API request an identified caller makes (a list names every id it returned in
one event), per admin page on patient data, and per export. A refused attempt on a record (another
clinic's, or one the caller's role may not see) is a `denied` event. The database refuses to
change or delete an event, whoever asks.

The table is partitioned by month on `at` (clinic 0019): each month is its own table, created
ahead by a beat task (clinic/services/access_partitions.py), with a default partition that takes
any event no month is ready for, so an insert never fails and never waits on DDL. Whole months
past the retention period are archived to a compressed file and dropped, never deleted row by row.
PostgreSQL requires a partitioned table's primary key to hold the partition key, so the table's is
(id, at); Django still sees `id` alone as the key. An id is a random UUID made for its event, so
it is unique on its own, and with id leading, a lookup by id (the admin's page on one event) is one
index probe per month rather than a scan.
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
    # No index of its own: `access_clinic_at` and `access_actor` lead with it.
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, db_constraint=False, db_index=False, related_name="+")
    # `user:<id>` or `client:<id>`: the same key the change history carries.
    actor = models.CharField(max_length=64)
    # Indexed only where set, with `at` (Meta).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    client = models.ForeignKey(
        IntegrationClient,
        on_delete=models.PROTECT,
        null=True,
        db_constraint=False,
        db_index=False,
        related_name="+",
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
        # Ascending on `at`: events arrive in time order, so each index only ever appends to its
        # last page and pages fill; a descending one splits its first page at every insert and
        # stays half empty (73 bytes an event against 36). A backward scan reads newest first.
        indexes = [
            models.Index(fields=["clinic", "at"], name="access_clinic_at"),
            # "Who saw this patient": contains/overlap on the ids (clinic/selectors/access.py).
            GinIndex(fields=["patient_ids"], name="access_patients"),
            # "What did this actor do", newest first, at any size: the selector turns an actor key
            # into its 16-byte id (an index on the 41-character key costs 168 bytes an event, these
            # two about a third of that), and PROTECT asks them before a user or client is deleted.
            models.Index(fields=["user", "at"], name="access_user", condition=models.Q(user__isnull=False)),
            models.Index(fields=["client", "at"], name="access_client", condition=models.Q(client__isnull=False)),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(actor__regex=ACTOR_KEY_PATTERN), name="access_actor_is_a_key"),
        ]
        triggers = [
            pgtrigger.Protect(name="access_log_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"Access event {self.pk}"
