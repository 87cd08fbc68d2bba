"""Writes to the patient registry. Every path ends in `full_clean()` and a save inside a transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from clinic.models import ASSIGNED_CLINICIAN_CONSTRAINT, Clinic, Patient, PatientStatus, User
from clinic.selectors.patients import care_staff_list

# What a caller may set on a patient (everything else is the system's), in the API's order.
PATIENT_FIELDS = (
    "external_id",
    "given_name",
    "family_name",
    "date_of_birth",
    "email",
    "phone",
    "preferred_language",
    "reminders_opt_in",
    "checkins_opt_in",
    "status",
    "assigned_clinician",
    "intake_date",
    "discharge_date",
)

# What decides whether a patient gets reminders (and check-ins). The apps that hold them register a hook at
# start-up (`AppConfig.ready()`), as for disclosures (clinic/releases.py), since `clinic` never
# imports them; it is called as `hook(patient=...)` inside the write's transaction, after the save.
REMINDER_FIELDS = frozenset({"reminders_opt_in", "checkins_opt_in", "email", "status"})
PatientHook = Callable[..., object]
_reminder_hooks: list[PatientHook] = []


def patient_reminder_hook_register(hook: PatientHook) -> None:
    if hook not in _reminder_hooks:
        _reminder_hooks.append(hook)


def patient_reminders_changed(*, patient: Patient) -> None:
    """Tell the registered apps that `patient`'s opt-in, email or status changed: an opt-in brings
    reminders for the sessions already booked, an opt-out cancels the pending ones."""
    for hook in _reminder_hooks:
        hook(patient=patient)


_DUPLICATE_EXTERNAL_ID = "A patient with this external_id already exists in this clinic (PUT to upsert it)."
_NOT_CARE_STAFF = "Must be an active clinician, case manager or admin of the patient's clinic."


def patient_clinician_validate(*, clinic: Clinic, clinician: User | None) -> None:
    """A patient's assigned clinician holds an active clinical membership (`CARE_ROLES`) of the
    patient's clinic. The database refuses any other row; this names the field first."""
    if clinician is not None and not care_staff_list(clinic=clinic).filter(pk=clinician.pk).exists():
        raise ValidationError({"assigned_clinician": _NOT_CARE_STAFF})


def _refused(exc: IntegrityError) -> ValidationError | None:
    """The field a constraint that refused the row is about, or None for any other failure."""
    if "patient_external_id_unique_per_clinic" in str(exc):
        return ValidationError({"external_id": _DUPLICATE_EXTERNAL_ID})
    if ASSIGNED_CLINICIAN_CONSTRAINT in str(exc):
        # The membership was deactivated between the check and the write.
        return ValidationError({"assigned_clinician": _NOT_CARE_STAFF})
    return None


def _check_fields(fields: dict[str, Any]) -> None:
    unknown = set(fields) - set(PATIENT_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "This field cannot be set."))


def _validate(patient: Patient) -> None:
    errors: dict[str, str] = {}
    if patient.status == PatientStatus.DISCHARGED and patient.discharge_date is None:
        errors["discharge_date"] = "Required when status is 'discharged'."
    if patient.discharge_date and patient.intake_date and patient.discharge_date < patient.intake_date:
        errors["discharge_date"] = "Must not be before intake_date."
    if errors:
        raise ValidationError(errors)
    # Uniqueness of external_id is left to the database (checked below), so a race cannot slip through.
    patient.full_clean(exclude=["clinic"], validate_unique=False, validate_constraints=False)


def _insert(patient: Patient) -> None:
    try:
        with transaction.atomic():
            patient.save(force_insert=True)
    except IntegrityError as exc:
        refused = _refused(exc)
        if refused is not None:
            raise refused from None
        raise


@transaction.atomic
def patient_create(*, clinic: Clinic, **fields: Any) -> Patient:
    _check_fields(fields)
    patient = Patient(clinic=clinic, **fields)
    _validate(patient)
    patient_clinician_validate(clinic=clinic, clinician=patient.assigned_clinician)
    _insert(patient)
    return patient


@transaction.atomic
def patient_update(*, patient: Patient, **fields: Any) -> Patient:
    _check_fields(fields)
    locked = Patient.objects.select_for_update().get(pk=patient.pk)
    changed = [name for name, value in fields.items() if getattr(locked, _attname(name)) != _raw(value)]
    for name, value in fields.items():
        setattr(locked, name, value)
    _validate(locked)
    if "assigned_clinician" in changed:
        # Only a new assignment is checked here: a patient whose clinician's account was since
        # disabled can still have their phone corrected.
        patient_clinician_validate(clinic=locked.clinic, clinician=locked.assigned_clinician)
    if changed:
        try:
            with transaction.atomic():
                locked.save(update_fields=[*changed, "updated_at"])
        except IntegrityError as exc:
            refused = _refused(exc)
            if refused is not None:
                raise refused from None
            raise
        if REMINDER_FIELDS.intersection(changed):
            patient_reminders_changed(patient=locked)
    return locked


@transaction.atomic
def patient_upsert(*, clinic: Clinic, external_id: str, **fields: Any) -> tuple[Patient, bool]:
    """Create or replace the patient the EHR knows as `external_id`. Returns (patient, created).

    Two clients upserting the same id at once still leave one patient: the loser of the insert
    race finds the winner's row and updates it.
    """
    fields["external_id"] = external_id
    existing = Patient.objects.select_for_update().filter(clinic=clinic, external_id=external_id).first()
    if existing is not None:
        return patient_update(patient=existing, **fields), False
    try:
        return patient_create(clinic=clinic, **fields), True
    except ValidationError as exc:
        if "external_id" not in getattr(exc, "error_dict", {}):
            raise
    existing = Patient.objects.select_for_update().get(clinic=clinic, external_id=external_id)
    return patient_update(patient=existing, **fields), False


def _attname(name: str) -> str:
    return "assigned_clinician_id" if name == "assigned_clinician" else name


def _raw(value: Any) -> Any:
    return getattr(value, "pk", value)
