"""Consent to disclose and the record of every disclosure (42 CFR Part 2 §2.31, §2.32).

A consent names who may receive which categories of a patient's records, for what purpose, until
when. Once recorded its terms never change: a patient who wants other terms signs a new consent,
and one who withdraws it has it revoked. Every release to an outside recipient is a `Disclosure`
row, which the database keeps as written (the accounting of disclosures a patient may ask for).
"""

from __future__ import annotations

import datetime

import pgtrigger
from django.contrib.postgres.fields import ArrayField
from django.db import models

from clinic.models.base import TimeStampedModel
from clinic.models.history import tracked
from clinic.models.organisation import Clinic
from clinic.models.patients import Patient

# §2.32(a)(2): the abbreviated statement that must accompany each disclosure made with consent.
REDISCLOSURE_NOTICE = "42 CFR part 2 prohibits unauthorized use or disclosure of these records."

# The API caller who acted, as `Caller.key` writes it (and the change history's `actor`).
ACTOR_KEY_PATTERN = r"^(user|client):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class DisclosureCategory(models.TextChoices):
    """What a consent may cover, in terms of the records Aftercare holds."""

    DEMOGRAPHICS = "demographics", "Identity and contact details (name, date of birth, email, phone, EHR id)"
    ENROLLMENT = "enrollment", "Enrollment (status in the programme, intake and discharge dates)"
    ATTENDANCE = "attendance", "Appointments, group sessions and attendance"
    PLAN = "plan", "Aftercare plan (goals, activities, warning signs, triggers, coping, emergency plan)"
    MEDICATION = "medication", "Medication-assisted treatment (medication, dose schedule, start date)"
    RISK_FLAGS = "risk_flags", "Risk flags (rule, severity, status, dates)"
    DRUG_SCREENS = "drug_screens", "Drug screen results"
    CHECK_INS = "check_ins", "Recovery check-in answers"


# Accepted when a consent is recorded and stored as the categories that exist on that day, so a
# category added later is never covered by a consent the patient signed before it existed.
ALL_CATEGORIES = "all"
CONSENT_CATEGORY_CHOICES = [
    *DisclosureCategory.choices,
    (ALL_CATEGORIES, "Every category there is on the day the consent is recorded"),
]
# A consent's state at a given instant, derived (never stored).
CONSENT_STATES = [("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")]


class RecipientKind(models.TextChoices):
    INDIVIDUAL = "individual", "An individual (family member, friend, attorney)"
    TREATING_PROVIDER = "treating_provider", "A treating provider or care team"
    PAYER = "payer", "A health plan or other payer"
    CRIMINAL_JUSTICE = "criminal_justice", "A court, probation or parole office"
    EMPLOYER = "employer", "An employer"
    GOVERNMENT = "government", "Another government agency"
    OTHER = "other", "Other"


_CATEGORY_CODES = list(DisclosureCategory.values)


@tracked
class Consent(TimeStampedModel):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="consents")
    recipient_name = models.CharField(max_length=200, help_text="The person or organisation the consent names.")
    # Null when not given, as the API reads it back: no empty string outside the enum.
    recipient_kind = models.CharField(max_length=20, choices=RecipientKind.choices, null=True, blank=True)  # noqa: DJ001
    purpose = models.TextField(max_length=1000)
    categories = ArrayField(models.CharField(max_length=20, choices=DisclosureCategory.choices))
    # A day of the clinic's calendar, as the patient signs it ("valid until 2027-12-01"): the last
    # day, inclusive, on which the consent holds, in the clinic's time zone.
    expires_on = models.DateField(
        null=True, blank=True, help_text="The last day (clinic's calendar, inclusive) on which the consent holds."
    )
    expiry_event = models.TextField(
        max_length=500, blank=True, help_text="The event or condition on which the consent ends, if not a date."
    )
    signed_on = models.DateField(help_text="The date the patient signed.")
    recorded_by = models.CharField(max_length=80, help_text="'user:<id>' or 'client:<id>'.")
    recorded_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=80, blank=True, help_text="'user:<id>' or 'client:<id>'.")
    revocation_reason = models.TextField(max_length=1000, blank=True)

    class Meta(TimeStampedModel.Meta):
        constraints = [
            # §2.31(a)(6): a date, event or condition on which the consent expires.
            models.CheckConstraint(
                condition=models.Q(expires_on__isnull=False) | ~models.Q(expiry_event=""),
                name="consent_has_expiry",
            ),
            models.CheckConstraint(condition=models.Q(categories__len__gt=0), name="consent_categories_given"),
            models.CheckConstraint(
                condition=models.Q(categories__contained_by=_CATEGORY_CODES), name="consent_categories_known"
            ),
            models.CheckConstraint(
                condition=models.Q(recipient_kind__isnull=True) | models.Q(recipient_kind__in=RecipientKind.values),
                name="consent_recipient_kind_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(recipient_name="") & ~models.Q(purpose=""), name="consent_recipient_and_purpose"
            ),
            models.CheckConstraint(
                condition=models.Q(recorded_by__regex=ACTOR_KEY_PATTERN), name="consent_recorded_by_actor"
            ),
            # Revoked means all three: when, by whom, why. Not revoked means none of them.
            models.CheckConstraint(
                condition=(models.Q(revoked_at__isnull=True) & models.Q(revoked_by="") & models.Q(revocation_reason=""))
                | (
                    models.Q(revoked_at__isnull=False)
                    & models.Q(revoked_by__regex=ACTOR_KEY_PATTERN)
                    & ~models.Q(revocation_reason="")
                ),
                name="consent_revocation_complete",
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "created_at", "id"], name="consent_patient_created"),
            models.Index(fields=["clinic", "updated_at"], name="consent_clinic_updated"),
        ]
        triggers = [
            *TimeStampedModel.Meta.triggers,
            pgtrigger.Protect(name="consent_never_deleted", operation=pgtrigger.Delete),
            # The terms the patient signed stay as signed; only a revocation may be added.
            pgtrigger.Protect(
                name="consent_terms_unchanged",
                operation=pgtrigger.Update,
                condition=pgtrigger.AnyChange(exclude=["revoked_at", "revoked_by", "revocation_reason", "updated_at"]),
            ),
            # A revocation is final.
            pgtrigger.Protect(
                name="consent_revocation_final",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__revoked_at__isnull=False)
                & (
                    pgtrigger.Q(old__revoked_at__df=pgtrigger.F("new__revoked_at"))
                    | pgtrigger.Q(old__revoked_by__df=pgtrigger.F("new__revoked_by"))
                    | pgtrigger.Q(old__revocation_reason__df=pgtrigger.F("new__revocation_reason"))
                ),
            ),
        ]

    def __str__(self) -> str:
        # Not the recipient: it can name a person.
        return f"Consent {self.pk}"

    def is_expired(self, today: datetime.date) -> bool:
        """Whether the consent has ended by `today`, a day of its clinic's calendar."""
        return self.expires_on is not None and self.expires_on < today


class Disclosure(TimeStampedModel):
    """One release of a patient's records to an outside recipient under a consent. Append-only."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="disclosures")
    consent = models.ForeignKey(Consent, on_delete=models.PROTECT, related_name="disclosures")
    recipient_name = models.CharField(max_length=200)
    purpose = models.TextField(max_length=1000, help_text="The consent's purpose at the time of release.")
    categories = ArrayField(models.CharField(max_length=20, choices=DisclosureCategory.choices))
    released_by = models.CharField(max_length=80, help_text="'user:<id>' or 'client:<id>'.")
    released_at = models.DateTimeField()
    notice = models.TextField(help_text="The redisclosure notice that went with the records (§2.32).")
    content_sha256 = models.CharField(
        max_length=64, help_text="SHA-256 of the released data as canonical JSON: what was sent, without a copy."
    )
    # Kept for the clinic's accounting and never sent with the data: the count itself would tell the
    # recipient that there is something in a category the consent does not let them see.
    withheld = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            "Per released category, how many items were left out because they also belong to a category "
            "not released (a medication visit in attendance, a flag drawn from one)."
        ),
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(categories__len__gt=0), name="disclosure_categories_given"),
            models.CheckConstraint(
                condition=models.Q(categories__contained_by=_CATEGORY_CODES), name="disclosure_categories_known"
            ),
            models.CheckConstraint(
                condition=~models.Q(recipient_name="") & ~models.Q(notice=""), name="disclosure_recipient_and_notice"
            ),
            models.CheckConstraint(
                condition=models.Q(released_by__regex=ACTOR_KEY_PATTERN), name="disclosure_released_by_actor"
            ),
            models.CheckConstraint(
                condition=models.Q(content_sha256__regex=r"^[0-9a-f]{64}$"), name="disclosure_content_hash"
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "created_at", "id"], name="disclosure_patient_created"),
            models.Index(fields=["clinic", "updated_at"], name="disclosure_clinic_updated"),
        ]
        triggers = [
            pgtrigger.Protect(name="disclosure_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"Disclosure {self.pk}"
