"""Aftercare plans: the relapse-prevention plan a patient leaves treatment with."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator
from django.db import models

from aftercare.models.choices import (
    ActivityKind,
    FrequencyPeriod,
    Medication,
    PlanStatus,
    SupportGroupKind,
    WellnessKind,
)
from clinic.models import Clinic, Patient, TimeStampedModel
from clinic.models.history import tracked


@tracked
class AftercarePlan(TimeStampedModel):
    """One per patient at a time (a partial unique index). Its structured parts are clinical
    detail: only callers with `plans:read` see them.

    `triggers`, `emergency_plan`, `support_persons` and `sponsor` are JSON of a shape the API
    validates (aftercare/api/plans.py); warning signs and coping strategies are lists of text.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="plans")
    status = models.CharField(max_length=20, choices=PlanStatus.choices, default=PlanStatus.DRAFT)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    goals = models.TextField(blank=True)
    warning_signs = ArrayField(models.CharField(max_length=300), default=list, blank=True)
    triggers = models.JSONField(default=list, blank=True)
    coping_strategies = ArrayField(models.CharField(max_length=300), default=list, blank=True)
    daily_routine = models.TextField(blank=True)
    emergency_plan = models.JSONField(default=dict, blank=True)
    support_persons = models.JSONField(default=list, blank=True)
    sponsor = models.JSONField(null=True, blank=True)
    # How often the patient is sent a check-in while this plan is active; 0 turns them off.
    checkin_every_days = models.PositiveSmallIntegerField(
        default=7,
        validators=[MaxValueValidator(90)],
        help_text="Days between check-ins while the plan is active (0: none, at most 90).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta(TimeStampedModel.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=models.Q(status=PlanStatus.ACTIVE),
                name="plan_one_active_per_patient",
            ),
            models.CheckConstraint(condition=models.Q(status__in=PlanStatus.values), name="plan_status_valid"),
            models.CheckConstraint(
                condition=models.Q(end_date__isnull=True)
                | models.Q(start_date__isnull=True)
                | models.Q(end_date__gte=models.F("start_date")),
                name="plan_end_after_start",
            ),
            models.CheckConstraint(condition=models.Q(checkin_every_days__lte=90), name="plan_checkin_every_days_max"),
        ]
        indexes = [
            models.Index(fields=["clinic", "created_at", "id"], name="plan_clinic_created"),
            models.Index(fields=["clinic", "updated_at"], name="plan_clinic_updated"),
            models.Index(fields=["patient", "status"], name="plan_patient_status"),
        ]

    def __str__(self) -> str:
        return f"Plan {self.pk}"


@tracked
class PlanActivity(TimeStampedModel):
    """One part of a plan: a kind of care, how often, with whom."""

    plan = models.ForeignKey(AftercarePlan, on_delete=models.CASCADE, related_name="activities")
    kind = models.CharField(max_length=30, choices=ActivityKind.choices)
    frequency_count = models.PositiveSmallIntegerField(default=1)
    frequency_period = models.CharField(max_length=10, choices=FrequencyPeriod.choices, default=FrequencyPeriod.WEEK)
    provider = models.CharField(max_length=200, blank=True)
    medication = models.CharField(max_length=20, choices=Medication.choices, blank=True)
    dose_schedule = models.CharField(max_length=200, blank=True)
    medication_started_on = models.DateField(null=True, blank=True)
    support_group_kind = models.CharField(max_length=20, choices=SupportGroupKind.choices, blank=True)
    wellness_kind = models.CharField(max_length=20, choices=WellnessKind.choices, blank=True)
    notes = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta(TimeStampedModel.Meta):
        ordering = ["position", "created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(kind__in=ActivityKind.values), name="activity_kind_valid"),
            models.CheckConstraint(
                condition=~models.Q(kind=ActivityKind.MEDICATION) | ~models.Q(medication=""),
                name="activity_medication_named",
            ),
            models.CheckConstraint(condition=models.Q(frequency_count__gte=1), name="activity_frequency_positive"),
        ]

    def __str__(self) -> str:
        return f"Activity {self.pk}"
