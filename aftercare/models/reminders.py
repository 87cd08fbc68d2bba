"""Reminder emails: one row per (session, offset, start time). The database is the source of truth;
the broker only wakes workers, so a lost message loses nothing."""

from __future__ import annotations

from django.db import models

from aftercare.models.appointments import Appointment
from aftercare.models.groups import GroupSession
from clinic.models import Clinic, Patient, TimeStampedModel


class ReminderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    # Leased by a worker until `lease_expires_at`, not yet handed to the email backend: if the
    # worker dies, the row is pending again once the lease has run out.
    CLAIMED = "claimed", "Claimed (queued to send)"
    # Handed to the email backend, outcome not yet recorded.
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired (the session had started)"
    # Not sent because a later reminder of the same session (closer to it) went or goes out at the
    # same time or before it: a late booking, or reminders left due together, make one email.
    SKIPPED = "skipped", "Skipped (a later reminder of the session was due as well)"
    # The worker died while the message was with the email backend: it may or may not have gone
    # out. Never resent automatically; staff can see and follow up.
    IN_DOUBT = "in_doubt", "In doubt (interrupted while sending; not resent)"


class ReminderKind(models.TextChoices):
    APPOINTMENT = "appointment", "Appointment reminder"
    GROUP_SESSION = "group_session", "Group session reminder"
    MISSED_SESSION = "missed_session", "We missed you"


class Reminder(TimeStampedModel):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="reminders")
    kind = models.CharField(max_length=20, choices=ReminderKind.choices)
    appointment = models.ForeignKey(
        Appointment, on_delete=models.CASCADE, null=True, blank=True, related_name="reminders"
    )
    group_session = models.ForeignKey(
        GroupSession, on_delete=models.CASCADE, null=True, blank=True, related_name="reminders"
    )
    offset_minutes = models.PositiveIntegerField()
    # The session's start this reminder was computed for: moving a session makes new rows, so the
    # old ones (cancelled) can never go out for the new time.
    starts_at = models.DateTimeField()
    send_at = models.DateTimeField()
    status = models.CharField(max_length=20, choices=ReminderStatus.choices, default=ReminderStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # While `claimed` or `sending`: until when the worker holds the row. The exact value is also the
    # worker's proof of ownership (every write it makes is conditional on it): a row taken over
    # after its lease ran out always gets a later one.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=200, blank=True)
    last_error = models.CharField(max_length=200, blank=True, help_text="The kind of failure, never message content.")

    class Meta(TimeStampedModel.Meta):
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=ReminderStatus.values), name="reminder_status_valid"),
            models.CheckConstraint(
                condition=models.Q(appointment__isnull=False) ^ models.Q(group_session__isnull=False),
                name="reminder_for_one_session",
            ),
            models.UniqueConstraint(
                fields=["appointment", "kind", "offset_minutes", "starts_at"],
                condition=models.Q(appointment__isnull=False),
                name="reminder_once_per_appointment_offset",
            ),
            models.UniqueConstraint(
                fields=["group_session", "patient", "kind", "offset_minutes", "starts_at"],
                condition=models.Q(group_session__isnull=False),
                name="reminder_once_per_session_patient_offset",
            ),
        ]
        indexes = [
            # The dispatcher's claim: due pending rows, oldest first.
            models.Index(fields=["send_at"], condition=models.Q(status="pending"), name="reminder_due"),
            # Recovery: leases that ran out (claimed rows to release, sends interrupted mid-way).
            models.Index(
                fields=["lease_expires_at"],
                condition=models.Q(status__in=["claimed", "sending"]),
                name="reminder_leased",
            ),
            models.Index(fields=["clinic", "created_at", "id"], name="reminder_clinic_created"),
            models.Index(fields=["clinic", "updated_at"], name="reminder_clinic_updated"),
            models.Index(fields=["patient", "send_at"], name="reminder_patient_send_at"),
        ]

    def __str__(self) -> str:
        return f"Reminder {self.pk}"


class DigestSent(models.Model):
    """That a staff member's daily digest for a date went out: at most one each day."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey("clinic.User", on_delete=models.CASCADE, related_name="+")
    date = models.DateField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["clinic", "user", "date"], name="digest_once_a_day")]

    def __str__(self) -> str:
        return f"Digest {self.pk}"
