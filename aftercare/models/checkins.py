"""Recovery check-ins: a short questionnaire a patient answers from a private link in an email.

Attendance shows the first stage of relapse; craving, mood, sleep, low confidence and pulling away
from support are things only the patient can tell. A `CheckIn` is one invitation (scheduled, sent,
answered, expired or cancelled); its `CheckInResponse` holds each answer in a typed column, plus the
scores the risk rules read, so the rules are plain SQL over columns (never a JSON blob).
The items and the scoring are in `aftercare.checkins.instrument`.
"""

from __future__ import annotations

from django.db import models

from aftercare.models.plans import AftercarePlan
from clinic.models import Clinic, Patient, TimeStampedModel


class CheckInStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    SENT = "sent", "Sent (waiting for an answer)"
    ANSWERED = "answered", "Answered"
    EXPIRED = "expired", "Expired (not answered in time)"
    CANCELLED = "cancelled", "Cancelled"


# A patient has at most one of these at a time (a partial unique index).
OPEN_CHECKIN_STATUSES = (CheckInStatus.SCHEDULED, CheckInStatus.SENT)

DAYS_MAX = 7  # the items that count days count the past 7 days
SCALE_MAX = 4  # the BAM's 0 (not at all) .. 4 (extremely) scale


class CheckIn(TimeStampedModel):
    """One check-in of one patient. Its id (a random UUID) is what the signed link names: it says
    nothing about the patient or the clinic."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="checkins")
    plan = models.ForeignKey(AftercarePlan, on_delete=models.PROTECT, related_name="checkins")
    # The clinic's local date the check-in fell due on: the schedule counts from it.
    due_on = models.DateField()
    send_at = models.DateTimeField()
    status = models.CharField(max_length=20, choices=CheckInStatus.choices, default=CheckInStatus.SCHEDULED)
    # While a worker sends it: until when that worker holds the row (its proof of ownership too).
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The link works until then (set when sent); after it, the check-in is `expired`.
    expires_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=200, blank=True)
    last_error = models.CharField(max_length=200, blank=True, help_text="The kind of failure, never message content.")

    class Meta(TimeStampedModel.Meta):
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=CheckInStatus.values), name="checkin_status_valid"),
            models.UniqueConstraint(
                fields=["patient"],
                condition=models.Q(status__in=[status.value for status in OPEN_CHECKIN_STATUSES]),
                name="checkin_one_open_per_patient",
            ),
            models.UniqueConstraint(
                fields=["patient", "due_on"],
                condition=~models.Q(status=CheckInStatus.CANCELLED),
                name="checkin_once_per_patient_day",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=CheckInStatus.SENT)
                | models.Q(sent_at__isnull=False, expires_at__isnull=False),
                name="checkin_sent_has_times",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=CheckInStatus.ANSWERED) | models.Q(answered_at__isnull=False),
                name="checkin_answered_has_time",
            ),
        ]
        indexes = [
            # The dispatcher's claim: scheduled rows that are due.
            models.Index(fields=["send_at"], condition=models.Q(status="scheduled"), name="checkin_due"),
            # The expiry step: sent rows whose link has run out.
            models.Index(fields=["expires_at"], condition=models.Q(status="sent"), name="checkin_sent_expires"),
            models.Index(fields=["patient", "due_on"], name="checkin_patient_due"),
            models.Index(fields=["clinic", "created_at", "id"], name="checkin_clinic_created"),
            models.Index(fields=["clinic", "updated_at"], name="checkin_clinic_updated"),
        ]

    def __str__(self) -> str:
        return f"CheckIn {self.pk}"


def _in_range(name: str, top: int) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=models.Q(**{f"{name}__gte": 0, f"{name}__lte": top}), name=f"checkin_response_{name}_range"
    )


class CheckInResponse(models.Model):
    """A patient's answers to one check-in, one column per item (see `aftercare.checkins.instrument`
    for the wording and the scores). Written once, never changed. `clinic` and `patient` are the
    check-in's, repeated so the risk rules read this table alone."""

    checkin = models.OneToOneField(CheckIn, on_delete=models.PROTECT, primary_key=True, related_name="response")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="checkin_responses")
    instrument = models.CharField(max_length=40, help_text="The version of the questions answered.")
    answered_at = models.DateTimeField()
    # Past 7 days. Days items: 0-7; scale items: 0 (not at all) to 4 (extremely).
    use_days = models.PositiveSmallIntegerField(help_text="Days of drinking or using (0-7).")
    craving = models.PositiveSmallIntegerField(help_text="Bothered by urges to drink or use (0-4).")
    sleep_trouble_days = models.PositiveSmallIntegerField(help_text="Days of trouble sleeping (0-7).")
    low_mood_days = models.PositiveSmallIntegerField(help_text="Days of feeling low or depressed (0-7).")
    anxious_days = models.PositiveSmallIntegerField(help_text="Days of feeling anxious (0-7).")
    angry_days = models.PositiveSmallIntegerField(help_text="Days of feeling angry (0-7).")
    confidence = models.PositiveSmallIntegerField(help_text="Confidence in not drinking or using (0-4).")
    support = models.PositiveSmallIntegerField(help_text="Support from family or friends (0-4).")
    meeting_days = models.PositiveSmallIntegerField(help_text="Days of self-help or support meetings (0-7).")
    wants_call = models.BooleanField(help_text="Asked for someone from the clinic to call.")
    risk_score = models.PositiveSmallIntegerField(help_text="Risk factors, 0-12 (see the instrument).")
    protective_score = models.PositiveSmallIntegerField(help_text="Protective factors, 0-12 (see the instrument).")

    class Meta:
        constraints = [
            *(
                _in_range(name, DAYS_MAX)
                for name in ("use_days", "sleep_trouble_days", "low_mood_days", "anxious_days", "angry_days")
            ),
            _in_range("meeting_days", DAYS_MAX),
            *(_in_range(name, SCALE_MAX) for name in ("craving", "confidence", "support")),
            _in_range("risk_score", 3 * SCALE_MAX),
            _in_range("protective_score", 3 * SCALE_MAX),
        ]
        indexes = [models.Index(fields=["patient", "answered_at"], name="checkin_response_patient_at")]

    def __str__(self) -> str:
        return f"CheckInResponse {self.pk}"
