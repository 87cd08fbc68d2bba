"""The organisation a deployment serves: clinics (tenants), their staff and roles."""

from __future__ import annotations

import datetime
import unicodedata
import uuid
import zoneinfo

import pgtrigger
from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual

from clinic.models.base import TimeStampedModel
from clinic.models.history import tracked
from clinic.privacy import forbidden_words_in, validate_patient_visible

# Bounds of a clinic's reminder policy. The database holds them too (the checks on Clinic; the
# offsets' own check is the SQL function `clinic_reminder_offsets_valid`, made by migration 0008),
# so a value written around the model is refused as well: one clinic's policy is computed with by
# every booking and every periodic job, and a value past these breaks them.
REMINDER_OFFSET_MIN_MINUTES = 1
REMINDER_OFFSET_MAX_MINUTES = 30 * 24 * 60  # 30 days
REMINDER_OFFSETS_MAX = 6
# At least 8 hours a day must be open for reminders, or they pile up at one minute of the day.
QUIET_HOURS_MAX = datetime.timedelta(hours=16)
_DAY = datetime.timedelta(days=1)
# How long before an appointment a patient may be checked in (arrival at the front desk).
CHECKIN_OPENS_MIN_MINUTES = 0
CHECKIN_OPENS_MAX_MINUTES = 8 * 60
# How long a "we missed you" email waits after the no-show is recorded, so that a mark taken back
# or corrected meanwhile sends nothing; past three days the message no longer reads as a follow-up.
MISSED_SESSION_GRACE_MIN_MINUTES = 0
MISSED_SESSION_GRACE_MAX_MINUTES = 72 * 60


def default_reminder_offsets() -> list[int]:
    return [48 * 60, 2 * 60]


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. America/Chicago).", code="invalid")


def validate_reminder_offsets(value: list[int]) -> None:
    if len(set(value)) != len(value):
        raise ValidationError("Each offset may be given once.", code="duplicate")


def validate_single_line(value: str) -> None:
    # Names end up in email headers (From, Subject), where a line break is an injected header.
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise ValidationError("Must be a single line without control characters.", code="invalid")


NPI_LENGTH = 10
# The NPI check digit is the Luhn digit of the nine-digit identifier prefixed with 80840, the
# card-issuer prefix of US health applications (CMS, "Requirements for NPI check digit").
_NPI_PREFIX = "80840"


def npi_check_digit_valid(value: str) -> bool:
    """Whether ten ASCII digits end with the NPI check digit."""
    if len(value) != NPI_LENGTH or not value.isascii() or not value.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(_NPI_PREFIX + value)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def validate_npi(value: str) -> None:
    if not npi_check_digit_valid(value):
        raise ValidationError(
            "Enter a National Provider Identifier: 10 digits ending with its check digit.", code="invalid"
        )


def quiet_hours_length(start: datetime.time, end: datetime.time) -> datetime.timedelta:
    """How long quiet hours from `start` to `end` last (across midnight when `end` comes first)."""
    length = datetime.datetime.combine(datetime.date.min, end) - datetime.datetime.combine(datetime.date.min, start)
    return length if length >= datetime.timedelta(0) else length + _DAY


class User(AbstractUser):
    """A person who signs in: clinic staff, or an operator (superuser). Patients never sign in."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    class Meta(AbstractUser.Meta):  # type: ignore[name-defined]
        swappable = "AUTH_USER_MODEL"


@tracked
class Clinic(TimeStampedModel):
    """A tenant. Every patient, appointment and flag belongs to exactly one clinic."""

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(
        max_length=200, help_text="The clinic's own name, shown to staff.", validators=[validate_single_line]
    )
    display_name = models.CharField(
        max_length=200,
        blank=True,
        help_text=(
            "The neutral name patients see in reminders (e.g. 'Riverbend Health'). "
            "It must not reveal the kind of treatment."
        ),
        validators=[validate_patient_visible, validate_single_line],
    )
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    phone = models.CharField(max_length=32, blank=True, help_text="Shown to patients in reminders.")
    is_active = models.BooleanField(default=True)
    # Reminder policy.
    reminder_offsets_minutes = ArrayField(
        models.PositiveIntegerField(
            validators=[
                MinValueValidator(REMINDER_OFFSET_MIN_MINUTES),
                MaxValueValidator(REMINDER_OFFSET_MAX_MINUTES),
            ]
        ),
        default=default_reminder_offsets,
        size=REMINDER_OFFSETS_MAX,
        validators=[validate_reminder_offsets],
        help_text=(
            "How long before a session each reminder goes out, in minutes (elapsed time): "
            f"up to {REMINDER_OFFSETS_MAX} different offsets, each from {REMINDER_OFFSET_MIN_MINUTES} "
            f"to {REMINDER_OFFSET_MAX_MINUTES} (30 days)."
        ),
    )
    quiet_hours_start = models.TimeField(default=datetime.time(21, 0), help_text="Local time; no email from here…")
    quiet_hours_end = models.TimeField(
        default=datetime.time(8, 0),
        help_text="…until here (the same time as the start: no quiet hours); 16 hours at most.",
    )
    reminder_sender_name = models.CharField(
        max_length=100,
        blank=True,
        help_text="Default: the display name.",
        validators=[validate_patient_visible, validate_single_line],
    )
    missed_session_message = models.BooleanField(
        default=False, help_text="Email a patient who missed a session, asking them to call."
    )
    missed_session_grace_minutes = models.PositiveSmallIntegerField(
        default=120,
        validators=[
            MinValueValidator(MISSED_SESSION_GRACE_MIN_MINUTES),
            MaxValueValidator(MISSED_SESSION_GRACE_MAX_MINUTES),
        ],
        help_text=(
            "How many minutes after a no-show is recorded that email waits (not sent if the mark is "
            f"changed meanwhile): {MISSED_SESSION_GRACE_MIN_MINUTES} to {MISSED_SESSION_GRACE_MAX_MINUTES}."
        ),
    )
    checkin_opens_minutes = models.PositiveSmallIntegerField(
        default=60,
        validators=[MinValueValidator(CHECKIN_OPENS_MIN_MINUTES), MaxValueValidator(CHECKIN_OPENS_MAX_MINUTES)],
        help_text=(
            "How many minutes before an appointment's start a patient may be checked in "
            f"({CHECKIN_OPENS_MIN_MINUTES} to {CHECKIN_OPENS_MAX_MINUTES})."
        ),
    )

    class Meta(TimeStampedModel.Meta):
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Func(
                    models.F("reminder_offsets_minutes"),
                    function="clinic_reminder_offsets_valid",
                    template="%(function)s(%(expressions)s::integer[])",
                    output_field=models.BooleanField(),
                ),
                name="clinic_reminder_offsets_in_bounds",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(
                        LessThanOrEqual(models.F("quiet_hours_start"), models.F("quiet_hours_end")),
                        LessThanOrEqual(models.F("quiet_hours_end") - models.F("quiet_hours_start"), QUIET_HOURS_MAX),
                    )
                    | models.Q(
                        GreaterThanOrEqual(
                            models.F("quiet_hours_start") - models.F("quiet_hours_end"), _DAY - QUIET_HOURS_MAX
                        )
                    )
                ),
                name="clinic_quiet_hours_at_most_16_hours",
            ),
            models.CheckConstraint(
                condition=~models.Q(name__regex="[[:cntrl:]]")
                & ~models.Q(display_name__regex="[[:cntrl:]]")
                & ~models.Q(reminder_sender_name__regex="[[:cntrl:]]"),
                name="clinic_names_single_line",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    checkin_opens_minutes__gte=CHECKIN_OPENS_MIN_MINUTES,
                    checkin_opens_minutes__lte=CHECKIN_OPENS_MAX_MINUTES,
                ),
                name="clinic_checkin_window_in_bounds",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    missed_session_grace_minutes__gte=MISSED_SESSION_GRACE_MIN_MINUTES,
                    missed_session_grace_minutes__lte=MISSED_SESSION_GRACE_MAX_MINUTES,
                ),
                name="clinic_missed_session_grace_in_bounds",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.quiet_hours_start is not None and self.quiet_hours_end is not None:
            length = quiet_hours_length(self.quiet_hours_start, self.quiet_hours_end)
            if length > QUIET_HOURS_MAX:
                hours = QUIET_HOURS_MAX // datetime.timedelta(hours=1)
                raise ValidationError(
                    {
                        "quiet_hours_end": ValidationError(
                            f"Quiet hours may last at most {hours} hours; these last {length}.", code="max_value"
                        )
                    }
                )
        # Without a display name, patients see the clinic's own name: it must be neutral too.
        if not self.display_name and self.name and forbidden_words_in(self.name):
            raise ValidationError(
                {
                    "display_name": ValidationError(
                        "The clinic's name is not neutral enough for patients' email; give a display name.",
                        code="required",
                    )
                }
            )

    @property
    def public_name(self) -> str:
        return self.display_name or self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class Role(models.TextChoices):
    ADMIN = "admin", "Administrator"
    CLINICIAN = "clinician", "Clinician"
    CASE_MANAGER = "case_manager", "Case manager"
    FRONT_DESK = "front_desk", "Front desk"
    AUDITOR = "auditor", "Auditor"


# The clinical roles: a patient's assigned clinician holds one of them, active, in the patient's
# clinic (the database refuses anything else), and flag emails go to them. Front desk and auditors
# see no clinical detail, so they can be neither.
CARE_ROLES = (Role.ADMIN, Role.CLINICIAN, Role.CASE_MANAGER)
CARE_ROLES_SQL = ", ".join(f"'{role.value}'" for role in CARE_ROLES)
ASSIGNED_CLINICIAN_CONSTRAINT = "patient_clinician_is_clinic_care_staff"
MEMBERSHIP_EXTERNAL_ID_CONSTRAINT = "membership_external_id_unique_per_clinic"


@tracked
class StaffMembership(TimeStampedModel):
    """A user's role in one clinic. A user may work for several clinics, with a role in each."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="memberships")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    is_active = models.BooleanField(default=True)
    # What the clinic's EHR calls this person (its provider id), so an integration can book with
    # them without first learning our user ids. Null when unknown: never "", so an unset id never
    # collides with another.
    external_id = models.CharField(  # noqa: DJ001
        max_length=64,
        null=True,
        blank=True,
        validators=[validate_single_line],
        help_text="The EHR's identifier of this staff member (provider id), unique within the clinic.",
    )
    npi = models.CharField(  # noqa: DJ001
        "NPI",
        max_length=NPI_LENGTH,
        null=True,
        blank=True,
        validators=[validate_npi],
        help_text="National Provider Identifier (10 digits), where the person has one.",
    )

    class Meta(TimeStampedModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["user", "clinic"], name="membership_one_per_user_clinic"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="membership_role_valid"),
            models.UniqueConstraint(
                fields=["clinic", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name=MEMBERSHIP_EXTERNAL_ID_CONSTRAINT,
                violation_error_message="Another staff member of this clinic already has this external_id.",
            ),
            models.CheckConstraint(
                condition=models.Q(external_id__isnull=True)
                | (~models.Q(external_id="") & ~models.Q(external_id__regex="[[:cntrl:]]")),
                name="membership_external_id_not_blank",
            ),
            # The check digit is the model's to verify; the database keeps the shape.
            models.CheckConstraint(
                condition=models.Q(npi__isnull=True) | models.Q(npi__regex=r"^[0-9]{10}$"),
                name="membership_npi_ten_digits",
            ),
        ]
        triggers = [
            *TimeStampedModel.Meta.triggers,
            # The other half of the patient's `assigned_clinician_in_clinic` trigger: a membership
            # that stops being clinical (deactivated, another role, deleted) while patients of its
            # clinic are still assigned to its user is refused. `membership_update` hands the
            # patients over first, in the same transaction.
            pgtrigger.Trigger(
                name="membership_keeps_assigned_patients",
                when=pgtrigger.After,
                operation=pgtrigger.UpdateOf("is_active", "role", "user_id", "clinic_id") | pgtrigger.Delete,  # type: ignore[no-untyped-call]
                timing=pgtrigger.Immediate,
                condition=pgtrigger.Q(old__is_active=True, old__role__in=list(CARE_ROLES)),
                # Only this module's constants are interpolated.
                func=f"""
                    IF TG_OP = 'UPDATE' AND NEW.is_active AND NEW.role IN ({CARE_ROLES_SQL})
                       AND NEW.user_id = OLD.user_id AND NEW.clinic_id = OLD.clinic_id THEN
                        RETURN NULL;
                    END IF;
                    IF EXISTS (
                        SELECT 1 FROM clinic_patient
                        WHERE clinic_id = OLD.clinic_id AND assigned_clinician_id = OLD.user_id
                    ) THEN
                        RAISE EXCEPTION USING
                            MESSAGE = '{ASSIGNED_CLINICIAN_CONSTRAINT}: membership ' || OLD.id
                                || ': patients of its clinic are still assigned to its user; '
                                || 'reassign or unassign them first',
                            ERRCODE = 'check_violation', CONSTRAINT = '{ASSIGNED_CLINICIAN_CONSTRAINT}';
                    END IF;
                    RETURN NULL;
                """,  # noqa: S608
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} at {self.clinic}"
