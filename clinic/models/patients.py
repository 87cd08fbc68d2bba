"""The patient registry. Patients are never hard-deleted: they are discharged or archived."""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models

from clinic.models.base import TimeStampedModel
from clinic.models.history import tracked
from clinic.models.organisation import Clinic


class PatientStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DISCHARGED = "discharged", "Discharged"
    ARCHIVED = "archived", "Archived"


class Language(models.TextChoices):
    ENGLISH = "en", "English"
    SPANISH = "es", "Español"


@tracked
class Patient(TimeStampedModel):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    # The EHR's identifier; null for patients registered only here. Nulls never collide.
    external_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=32, blank=True)
    preferred_language = models.CharField(max_length=2, choices=Language.choices, default=Language.ENGLISH)
    # Reminders go only to patients who said yes: the default is no.
    reminders_opt_in = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=PatientStatus.choices, default=PatientStatus.ACTIVE)
    assigned_clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_patients",
    )
    intake_date = models.DateField()
    discharge_date = models.DateField(null=True, blank=True)

    class Meta(TimeStampedModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["clinic", "external_id"], name="patient_external_id_unique_per_clinic"),
            models.CheckConstraint(condition=models.Q(status__in=PatientStatus.values), name="patient_status_valid"),
            models.CheckConstraint(
                condition=models.Q(preferred_language__in=Language.values), name="patient_language_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(discharge_date__isnull=True) | models.Q(discharge_date__gte=models.F("intake_date")),
                name="patient_discharge_after_intake",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=PatientStatus.DISCHARGED) | models.Q(discharge_date__isnull=False),
                name="patient_discharged_has_date",
            ),
        ]
        indexes = [
            models.Index(fields=["clinic", "created_at", "id"], name="patient_clinic_created"),
            models.Index(fields=["clinic", "updated_at"], name="patient_clinic_updated"),
            models.Index(fields=["clinic", "status"], name="patient_clinic_status"),
            models.Index(fields=["clinic", "assigned_clinician"], name="patient_clinic_clinician"),
            models.Index(fields=["clinic", "family_name", "given_name"], name="patient_clinic_name"),
        ]
        triggers = [
            *TimeStampedModel.Meta.triggers,
            # A patient's record is kept for the clinic's retention period and beyond: never deleted.
            pgtrigger.Protect(name="patient_never_deleted", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        # Not the name: model reprs end up in logs and error reports.
        return f"Patient {self.pk}"
