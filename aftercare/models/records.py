"""Clinical records the risk rules read besides attendance: care transitions (a step down into this
clinic's aftercare, a discharge), medication-assisted treatment events (doses, take-homes,
injections, missed doses) and drug screens with a result per analyte.

Each comes from staff or from a clinic system (the EHR, the dispensing system), which may give its
own id (`external_id`) to upsert without duplicates. A record is never deleted: a correction marks
it entered in error, with a reason, and every rule and page ignores it from then on while the
change history keeps what it said.
"""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models

from aftercare.models.choices import Medication
from clinic.models import Clinic, IntegrationClient, Patient, TimeStampedModel
from clinic.models.history import tracked

EXTERNAL_ID_MAX_LENGTH = 64

# The patient of a record is of the record's clinic. The services check it first and name the
# field; this trigger is the last guard against a raw write (a composite foreign key would need a
# unique (id, clinic) on the patient table, which `clinic` does not offer).
_PATIENT_OF_CLINIC = """
    IF NOT EXISTS (
        SELECT 1 FROM clinic_patient WHERE id = NEW.patient_id AND clinic_id = NEW.clinic_id
    ) THEN
        RAISE EXCEPTION 'record_patient_of_clinic' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
"""


class ClinicalRecord(TimeStampedModel):
    """What every record shares: whose it is, who recorded it, the source system's id and whether it
    was entered in error."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    external_id = models.CharField(
        max_length=EXTERNAL_ID_MAX_LENGTH,
        blank=True,
        help_text="The source system's id (EHR, dispensing system), unique within the clinic; empty when none.",
    )
    notes = models.TextField(blank=True)
    # Who recorded it: a staff member or an integration client, never both and never nobody.
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_by_client = models.ForeignKey(
        IntegrationClient, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    entered_in_error = models.BooleanField(default=False)
    entered_in_error_reason = models.TextField(blank=True)
    entered_in_error_at = models.DateTimeField(null=True, blank=True)

    class Meta(TimeStampedModel.Meta):
        abstract = True
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "external_id"],
                condition=~models.Q(external_id=""),
                name="%(class)s_external_id_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(recorded_by__isnull=False, recorded_by_client__isnull=True)
                | models.Q(recorded_by__isnull=True, recorded_by_client__isnull=False),
                name="%(class)s_recorded_by_one_actor",
            ),
            # Entered in error means all three: the flag, when and why. Not in error means none.
            models.CheckConstraint(
                condition=models.Q(entered_in_error=False, entered_in_error_reason="", entered_in_error_at__isnull=True)
                | (
                    models.Q(entered_in_error=True, entered_in_error_at__isnull=False)
                    & ~models.Q(entered_in_error_reason="")
                ),
                name="%(class)s_entered_in_error_complete",
            ),
        ]


def _record_triggers(name: str) -> list[pgtrigger.Trigger]:
    return [
        *TimeStampedModel.Meta.triggers,
        pgtrigger.Protect(name=f"{name}_never_deleted", operation=pgtrigger.Delete),
        # A correction is final: a record entered in error is never brought back or changed.
        pgtrigger.Protect(
            name=f"{name}_error_final",
            operation=pgtrigger.Update,
            condition=pgtrigger.Q(old__entered_in_error=True),
        ),
        pgtrigger.Trigger(
            name=f"{name}_patient_of_clinic",
            when=pgtrigger.Before,
            operation=pgtrigger.Insert | pgtrigger.Update,
            func=_PATIENT_OF_CLINIC,
        ),
    ]


# -- care transitions ---------------------------------------------------------------------------


class TransitionDirection(models.TextChoices):
    ENTERED_AFTERCARE = "entered_aftercare", "Stepped down into this clinic's aftercare"
    DISCHARGED = "discharged", "Discharged from this clinic's aftercare"


class LevelOfCare(models.TextChoices):
    """The other side of a transition (ASAM levels, in the words clinics use)."""

    WITHDRAWAL_MANAGEMENT = "withdrawal_management", "Withdrawal management"
    RESIDENTIAL = "residential", "Residential"
    INPATIENT = "inpatient", "Inpatient"
    INTENSIVE_OUTPATIENT = "intensive_outpatient", "Intensive outpatient"
    PARTIAL_HOSPITALIZATION = "partial_hospitalization", "Partial hospitalization"
    OUTPATIENT = "outpatient", "Outpatient"


@tracked
class CareTransition(ClinicalRecord):
    """A step into or out of this clinic's aftercare. The weeks after leaving high-intensity care
    are when a missed follow-up matters most (HEDIS FUI; lost tolerance after residential or
    inpatient care)."""

    direction = models.CharField(max_length=20, choices=TransitionDirection.choices)
    level_of_care = models.CharField(
        max_length=30, choices=LevelOfCare.choices, help_text="The level of care on the other side."
    )
    occurred_on = models.DateField(help_text="The day of the transition (clinic calendar).")
    source = models.CharField(max_length=200, blank=True, help_text="Where from or to, e.g. the facility's name.")

    class Meta(ClinicalRecord.Meta):
        constraints = [
            *ClinicalRecord.Meta.constraints,
            models.CheckConstraint(
                condition=models.Q(direction__in=TransitionDirection.values), name="transition_direction_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(level_of_care__in=LevelOfCare.values), name="transition_level_of_care_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["clinic", "created_at", "id"], name="transition_clinic_created"),
            models.Index(fields=["clinic", "updated_at"], name="transition_clinic_updated"),
            models.Index(fields=["patient", "occurred_on"], name="transition_patient_day"),
        ]
        triggers = _record_triggers("transition")

    def __str__(self) -> str:
        return f"Care transition {self.pk}"


# -- medication events --------------------------------------------------------------------------


class MedicationEventKind(models.TextChoices):
    DOSE_OBSERVED = "dose_observed", "Dose given or taken under observation"
    TAKE_HOME_DISPENSED = "take_home_dispensed", "Take-home supply dispensed"
    INJECTION_GIVEN = "injection_given", "Extended-release injection given"
    DOSE_MISSED = "dose_missed", "Dose missed"


TAKE_HOME_MAX_DAYS = 90


@tracked
class MedicationEvent(ClinicalRecord):
    """One dosing-day event of medication-assisted treatment. Missed-dose guidance counts days
    (3 missed methadone doses: review; 5: re-induction), hence one event per patient, medication,
    kind and day."""

    medication = models.CharField(max_length=20, choices=Medication.choices)
    kind = models.CharField(max_length=30, choices=MedicationEventKind.choices)
    occurred_on = models.DateField(help_text="The dosing day (clinic calendar).")
    days_covered = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Take-home supplies only: the days the supply covers (1 to 90)."
    )
    dose_mg = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)

    class Meta(ClinicalRecord.Meta):
        constraints = [
            *ClinicalRecord.Meta.constraints,
            models.CheckConstraint(
                condition=models.Q(medication__in=Medication.values), name="medication_event_medication_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=MedicationEventKind.values), name="medication_event_kind_valid"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(kind=MedicationEventKind.TAKE_HOME_DISPENSED)
                    & models.Q(days_covered__gte=1, days_covered__lte=TAKE_HOME_MAX_DAYS)
                )
                | (~models.Q(kind=MedicationEventKind.TAKE_HOME_DISPENSED) & models.Q(days_covered__isnull=True)),
                name="medication_event_days_covered_for_take_home",
            ),
            # Extended-release injections are naltrexone's (Vivitrol); a methadone "injection" is a typo.
            models.CheckConstraint(
                condition=~models.Q(kind=MedicationEventKind.INJECTION_GIVEN)
                | models.Q(medication=Medication.NALTREXONE),
                name="medication_event_injection_is_naltrexone",
            ),
            models.CheckConstraint(
                condition=models.Q(dose_mg__isnull=True) | models.Q(dose_mg__gt=0),
                name="medication_event_dose_positive",
            ),
            models.UniqueConstraint(
                fields=["patient", "medication", "kind", "occurred_on"],
                condition=models.Q(entered_in_error=False),
                name="medication_event_once_a_day",
            ),
        ]
        indexes = [
            models.Index(fields=["clinic", "created_at", "id"], name="medevent_clinic_created"),
            models.Index(fields=["clinic", "updated_at"], name="medevent_clinic_updated"),
            models.Index(fields=["patient", "medication", "occurred_on"], name="medevent_patient_day"),
        ]
        triggers = _record_triggers("medication_event")

    def __str__(self) -> str:
        return f"Medication event {self.pk}"


# -- drug screens -------------------------------------------------------------------------------


class Specimen(models.TextChoices):
    URINE = "urine", "Urine"
    ORAL_FLUID = "oral_fluid", "Oral fluid"
    BLOOD = "blood", "Blood"


class Analyte(models.TextChoices):
    OPIOIDS = "opioids", "Opioids (opiates)"
    FENTANYL = "fentanyl", "Fentanyl"
    METHADONE = "methadone", "Methadone"
    BUPRENORPHINE = "buprenorphine", "Buprenorphine"
    OXYCODONE = "oxycodone", "Oxycodone"
    COCAINE = "cocaine", "Cocaine"
    AMPHETAMINES = "amphetamines", "Amphetamines"
    METHAMPHETAMINE = "methamphetamine", "Methamphetamine"
    BENZODIAZEPINES = "benzodiazepines", "Benzodiazepines"
    CANNABINOIDS = "cannabinoids", "Cannabinoids"
    ALCOHOL = "alcohol", "Alcohol"
    OTHER = "other", "Other"


class ScreenResult(models.TextChoices):
    POSITIVE = "positive", "Positive"
    NEGATIVE = "negative", "Negative"
    INVALID = "invalid", "Invalid specimen"


@tracked
class DrugScreen(ClinicalRecord):
    """A specimen collected on a day and the panel run on it; one result per analyte."""

    collected_on = models.DateField(help_text="The day the specimen was collected (clinic calendar).")
    specimen = models.CharField(max_length=20, choices=Specimen.choices, default=Specimen.URINE)
    panel = models.CharField(max_length=100, blank=True, help_text='The panel run, e.g. "12-panel + fentanyl".')

    class Meta(ClinicalRecord.Meta):
        constraints = [
            *ClinicalRecord.Meta.constraints,
            models.CheckConstraint(condition=models.Q(specimen__in=Specimen.values), name="drug_screen_specimen_valid"),
        ]
        indexes = [
            models.Index(fields=["clinic", "created_at", "id"], name="drug_screen_clinic_created"),
            models.Index(fields=["clinic", "updated_at"], name="drug_screen_clinic_updated"),
            models.Index(fields=["patient", "collected_on"], name="drug_screen_patient_day"),
        ]
        triggers = _record_triggers("drug_screen")

    def __str__(self) -> str:
        return f"Drug screen {self.pk}"


@tracked
class DrugScreenResult(TimeStampedModel):
    """One analyte's result. `expected` says whether it is what the patient's medication-assisted
    treatment predicts (a methadone-positive screen of a methadone patient is; a negative one is
    not), worked out from the active plan unless the caller said (`expected_stated`: a prescribed
    benzodiazepine)."""

    screen = models.ForeignKey(DrugScreen, on_delete=models.PROTECT, related_name="results")
    analyte = models.CharField(max_length=20, choices=Analyte.choices)
    result = models.CharField(max_length=10, choices=ScreenResult.choices)
    expected = models.BooleanField()
    expected_stated = models.BooleanField(
        default=False, help_text="Whether the caller stated `expected` rather than it being worked out from the plan."
    )

    class Meta(TimeStampedModel.Meta):
        ordering = ["analyte"]
        constraints = [
            models.UniqueConstraint(fields=["screen", "analyte"], name="drug_screen_result_analyte_once"),
            models.CheckConstraint(
                condition=models.Q(analyte__in=Analyte.values), name="drug_screen_result_analyte_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(result__in=ScreenResult.values), name="drug_screen_result_result_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Drug screen result {self.pk}"
