"""Risk flags: a rule saw a patient drifting (DESIGN.md, "Risk rules"), and staff follow it up.

One open flag per patient and rule. A flag is raised by the engine (`aftercare.risk`), escalated
on the same row when things get worse, and closed by staff with a note. Every change is a
`RiskFlagEvent`, so the flag's history shows what the engine saw and what staff did.
"""

from __future__ import annotations

import uuid

import pgtrigger
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from clinic.models import Clinic, IntegrationClient, Patient, TimeStampedModel
from clinic.models.history import tracked


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


SEVERITY_RANK = {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3}


class FlagStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"
    DISMISSED = "dismissed", "Dismissed"


ACTIVE_FLAG_STATUSES = (FlagStatus.OPEN, FlagStatus.ACKNOWLEDGED)


class RiskRule(models.TextChoices):
    CONSECUTIVE_MISSED = "consecutive_missed", "Consecutive missed sessions"
    MISSED_IN_WINDOW = "missed_in_window", "Missed sessions in a window"
    EARLY_MISSED = "early_missed", "Missed session early in treatment"
    MEDICATION_MISSED = "medication_missed", "Missed methadone doses"
    BUPRENORPHINE_GAP = "buprenorphine_gap", "Days without buprenorphine"
    NALTREXONE_OVERDUE = "naltrexone_overdue", "Naltrexone injection overdue"
    NO_CONTACT = "no_contact", "No attended session for a long time"
    POST_DISCHARGE_GAP = "post_discharge_gap", "No follow-up after a care transition"
    GROUP_DROPOUT = "group_dropout", "Stopped coming to a support group"
    CHECKIN_USE = "checkin_use", "Check-in reports use"
    CHECKIN_CRAVING = "checkin_craving", "Check-in reports craving or low confidence"
    CHECKIN_CALL_REQUEST = "checkin_call_request", "Asked to be called"
    CHECKIN_SILENT = "checkin_silent", "Check-ins unanswered"
    DRUG_SCREEN = "drug_screen", "Unexpected positive drug screen"
    MAT_NEGATIVE_SCREEN = "mat_negative_screen", "Screen negative for the prescribed medication"


@tracked
class RiskFlag(TimeStampedModel):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="risk_flags")
    rule = models.CharField(max_length=30, choices=RiskRule.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    status = models.CharField(max_length=20, choices=FlagStatus.choices, default=FlagStatus.OPEN)
    # The sessions behind the flag, as the engine last saw them: [{"type", "id", "starts_at", "status"}].
    evidence = models.JSONField(default=list)
    # False once the rule stops firing (the patient came back, or a correction removed the
    # evidence). The flag stays until staff close it: they decide what it meant.
    condition_met = models.BooleanField(default=True)
    raised_at = models.DateTimeField()
    evidence_updated_at = models.DateTimeField(help_text="When the engine last changed its severity or evidence.")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    acknowledged_by_client = models.ForeignKey(
        IntegrationClient, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True, help_text="When it was resolved or dismissed.")
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    closed_by_client = models.ForeignKey(
        IntegrationClient, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolution_note = models.TextField(blank=True)
    # When the assigned clinician was emailed about this flag being high: at most once.
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta(TimeStampedModel.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "rule"],
                condition=models.Q(status__in=["open", "acknowledged"]),
                name="risk_flag_one_active_per_rule",
            ),
            models.CheckConstraint(condition=models.Q(rule__in=RiskRule.values), name="risk_flag_rule_valid"),
            models.CheckConstraint(condition=models.Q(severity__in=Severity.values), name="risk_flag_severity_valid"),
            models.CheckConstraint(condition=models.Q(status__in=FlagStatus.values), name="risk_flag_status_valid"),
            models.CheckConstraint(
                condition=models.Q(status__in=["open", "acknowledged"])
                | (models.Q(closed_at__isnull=False) & ~models.Q(resolution_note="")),
                name="risk_flag_closed_with_note",
            ),
        ]
        indexes = [
            models.Index(fields=["clinic", "created_at", "id"], name="flag_clinic_created"),
            models.Index(fields=["clinic", "updated_at"], name="flag_clinic_updated"),
            models.Index(fields=["patient", "rule", "closed_at"], name="flag_patient_rule_closed"),
            models.Index(
                fields=["clinic", "severity"],
                condition=models.Q(status__in=["open", "acknowledged"]),
                name="flag_active",
            ),
        ]

    def __str__(self) -> str:
        return f"Flag {self.pk}"


class FlagEventKind(models.TextChoices):
    RAISED = "raised", "Raised"
    ESCALATED = "escalated", "Escalated"
    EVIDENCE_CHANGED = "evidence_changed", "Evidence changed"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"
    DISMISSED = "dismissed", "Dismissed"


class RiskFlagEvent(models.Model):
    """The flag's history, append-only: what the engine saw and what staff did, in order."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    flag = models.ForeignKey(RiskFlag, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=20, choices=FlagEventKind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    evidence = models.JSONField(default=list)
    condition_met = models.BooleanField(default=True)
    at = models.DateTimeField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    by_client = models.ForeignKey(IntegrationClient, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["flag", "at"], name="flag_event_flag_at")]
        triggers = [pgtrigger.Protect(name="flag_history_append_only", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"Flag event {self.pk}"


@tracked
class RiskRuleSetting(TimeStampedModel):
    """A clinic's own thresholds for one rule. Without a row the rule runs with its defaults."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="risk_rule_settings")
    rule = models.CharField(max_length=30, choices=RiskRule.choices)
    enabled = models.BooleanField(default=True)
    thresholds = models.JSONField(default=dict)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta(TimeStampedModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["clinic", "rule"], name="risk_rule_setting_unique"),
            # The bounds of `aftercare.risk.rules`, frozen into the SQL function by the migration
            # that made it (0008): a threshold written around the model is refused too.
            models.CheckConstraint(
                condition=models.Func(
                    models.F("rule"),
                    models.F("thresholds"),
                    function="aftercare_risk_thresholds_valid",
                    output_field=models.BooleanField(),
                ),
                name="risk_rule_setting_thresholds_in_bounds",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule} for clinic {self.clinic_id}"

    def clean(self) -> None:
        super().clean()
        # The rules are defined over this module's choices, so they are read when needed.
        from aftercare.risk.rules import RULES

        rule = RULES.get(self.rule)
        if rule is None:
            return  # the field's own choices say so
        if not isinstance(self.thresholds, dict):
            raise ValidationError({"thresholds": ValidationError("Must be an object of thresholds.", code="invalid")})
        _, errors = rule.validate(self.thresholds)
        if errors:
            messages = [ValidationError(f"{name}: {message}", code="invalid") for name, message in errors.items()]
            raise ValidationError({"thresholds": messages})
