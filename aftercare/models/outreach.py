"""The outreach log: each time staff (or an EHR, through the API) tried to reach a patient about a
flag or their care, how, and what came of it. A follow-up date says when to try again; the flag
queue shows it as overdue once it has passed with no later attempt."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from aftercare.models.flags import RiskFlag
from clinic.models import Clinic, IntegrationClient, Patient, TimeStampedModel
from clinic.models.history import tracked


class OutreachChannel(models.TextChoices):
    PHONE = "phone", "Phone call"
    TEXT = "text", "Text message"
    EMAIL = "email", "Email"
    LETTER = "letter", "Letter"
    IN_PERSON = "in_person", "In person"


class OutreachOutcome(models.TextChoices):
    REACHED = "reached", "Reached"
    NO_ANSWER = "no_answer", "No answer"
    LEFT_MESSAGE = "left_message", "Left a message"
    WRONG_NUMBER = "wrong_number", "Wrong number"


@tracked
class OutreachAttempt(TimeStampedModel):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="outreach_attempts")
    flag = models.ForeignKey(
        RiskFlag, on_delete=models.PROTECT, null=True, blank=True, related_name="outreach_attempts"
    )
    channel = models.CharField(max_length=20, choices=OutreachChannel.choices)
    outcome = models.CharField(max_length=20, choices=OutreachOutcome.choices)
    note = models.TextField(blank=True)
    follow_up_on = models.DateField(null=True, blank=True, help_text="When to try again (clinic calendar day).")
    attempted_at = models.DateTimeField()
    # Who made the attempt: a staff member or an integration client, never both and never nobody
    # (the same pair of keys as a flag's acknowledged_by / acknowledged_by_client).
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    by_client = models.ForeignKey(IntegrationClient, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta(TimeStampedModel.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(channel__in=OutreachChannel.values), name="outreach_channel_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(outcome__in=OutreachOutcome.values), name="outreach_outcome_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(by__isnull=False, by_client__isnull=True)
                | models.Q(by__isnull=True, by_client__isnull=False),
                name="outreach_by_one_actor",
            ),
        ]
        indexes = [
            models.Index(fields=["clinic", "created_at", "id"], name="outreach_clinic_created"),
            models.Index(fields=["clinic", "updated_at"], name="outreach_clinic_updated"),
            models.Index(fields=["patient", "attempted_at"], name="outreach_patient_attempted"),
            models.Index(fields=["flag", "attempted_at"], name="outreach_flag_attempted"),
        ]

    def __str__(self) -> str:
        return f"Outreach attempt {self.pk}"
