"""The outbox: work that must follow a commit, written in the same transaction as the change that
calls for it, so a broker that is away when the change commits loses nothing (the message waits
here until a relay publishes it). Payloads hold ids only, never patient detail."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class OutboxKind(models.TextChoices):
    RISK_EVALUATE = "risk_evaluate", "Evaluate the risk rules for patients"
    FLAGS_NOTIFY = "flags_notify", "Email about new or escalated high flags"


class OutboxMessage(models.Model):
    id = models.BigAutoField(primary_key=True)  # the order messages were written in
    kind = models.CharField(max_length=40, choices=OutboxKind.choices)
    payload = models.JSONField(help_text="Ids only: what the task needs to load its rows.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Not before: a message whose publishing failed for a reason of its own waits before the next try.
    available_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True, help_text="The kind of failure, never its text.")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(kind__in=OutboxKind.values), name="outbox_kind_valid"),
        ]
        indexes = [
            # The relay's scan: only what is still to publish, in order.
            models.Index(
                fields=["available_at", "id"], condition=models.Q(dispatched_at__isnull=True), name="outbox_pending"
            ),
            models.Index(
                fields=["dispatched_at"], condition=models.Q(dispatched_at__isnull=False), name="outbox_dispatched"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"
