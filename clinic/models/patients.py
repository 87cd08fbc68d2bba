"""The patient registry. Patients are never hard-deleted: they are discharged or archived."""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models

from clinic.models.base import TimeStampedModel
from clinic.models.history import tracked
from clinic.models.organisation import ASSIGNED_CLINICIAN_CONSTRAINT, CARE_ROLES_SQL, Clinic


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
    # Check-ins (a short questionnaire by email) likewise, and apart from reminders: the default is no.
    checkins_opt_in = models.BooleanField(default=False)
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
            # Staff of one clinic never receive another clinic's patients: the assigned clinician
            # holds an active clinical membership of the patient's clinic, whatever wrote the row.
            # FOR SHARE holds that membership until this transaction ends, so a concurrent
            # deactivation waits and then sees this patient (and refuses, see StaffMembership).
            pgtrigger.Trigger(
                name="assigned_clinician_in_clinic",
                when=pgtrigger.After,
                operation=pgtrigger.Insert | pgtrigger.UpdateOf("assigned_clinician_id", "clinic_id"),  # type: ignore[no-untyped-call]
                timing=pgtrigger.Immediate,
                condition=pgtrigger.Q(new__assigned_clinician__isnull=False),
                func=f"""
                    PERFORM 1 FROM clinic_staffmembership
                    WHERE user_id = NEW.assigned_clinician_id AND clinic_id = NEW.clinic_id
                      AND is_active AND role IN ({CARE_ROLES_SQL})
                    FOR SHARE;
                    IF NOT FOUND THEN
                        RAISE EXCEPTION USING
                            MESSAGE = '{ASSIGNED_CLINICIAN_CONSTRAINT}: patient ' || NEW.id
                                || ': the assigned clinician is not an active clinician, case manager '
                                || 'or admin of its clinic',
                            ERRCODE = 'check_violation', CONSTRAINT = '{ASSIGNED_CLINICIAN_CONSTRAINT}';
                    END IF;
                    RETURN NULL;
                """,
            ),
        ]

    def __str__(self) -> str:
        # Not the name: model reprs end up in logs and error reports.
        return f"Patient {self.pk}"
