"""What every clinical record's writes share: who recorded it, whose it is, days that cannot be in
the future, the source system's id, and the correction (entered in error). Every write queues risk
evaluation of the patient after commit: the rules read these records."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from typing import Any, Final, TypeVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from aftercare.models.records import EXTERNAL_ID_MAX_LENGTH, ClinicalRecord
from aftercare.services.risk import risk_evaluate_after_commit
from clinic.auth.caller import Caller
from clinic.errors import Conflict
from clinic.models import Patient

NOTES_MAX_LENGTH = 4000
REASON_MAX_LENGTH = 1000

R = TypeVar("R", bound=ClinicalRecord)


class Unset:
    """A keyword an update leaves as it is (None is a value: it clears a field)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset()

_DUPLICATE_EXTERNAL_ID = "A record with this external_id already exists in this clinic (PUT to upsert it)."
MOVED = "A record stays with its patient: mark it entered in error and record it for the other patient."
_ENTERED_IN_ERROR = "This record was entered in error: it cannot change. Record it again instead."


def recorder(by: Caller) -> dict[str, Any]:
    """The pair of keys naming who recorded a record: a staff member or an integration client."""
    return {"recorded_by": by.user if by.client is None else None, "recorded_by_client": by.client}


def clinic_today(by: Caller, now: datetime.datetime | None = None) -> datetime.date:
    return (now or timezone.now()).astimezone(by.clinic.zone).date()


def check_common(
    errors: dict[str, str],
    *,
    by: Caller,
    patient: Patient,
    day: tuple[str, datetime.date] | None = None,
    notes: str | None = None,
    external_id: str | None = None,
    now: datetime.datetime | None = None,
) -> None:
    """The checks every record makes, added to `errors` under the field they are about."""
    if patient.clinic_id != by.clinic.pk:
        # The API and the dashboard only offer the caller's own patients: this is the last guard.
        errors["patient"] = "Not a patient of this clinic."
    if day is not None and day[1] > clinic_today(by, now):
        errors[day[0]] = "Cannot be in the future (clinic calendar)."
    if notes is not None and len(notes) > NOTES_MAX_LENGTH:
        errors["notes"] = f"At most {NOTES_MAX_LENGTH} characters."
    if external_id is not None and (len(external_id) > EXTERNAL_ID_MAX_LENGTH or "\x00" in external_id):
        errors["external_id"] = f"At most {EXTERNAL_ID_MAX_LENGTH} characters, without null characters."


def raise_if(errors: dict[str, str]) -> None:
    if errors:
        raise ValidationError(errors)


def full_clean(record: ClinicalRecord, *, exclude: Iterable[str] = ()) -> None:
    """The model's own field checks (choices, lengths), named as the API names fields. Constraints
    are the database's (`save_checked`), so a race cannot slip through."""
    try:
        record.full_clean(
            exclude=["clinic", "patient", "recorded_by", "recorded_by_client", *exclude],
            validate_unique=False,
            validate_constraints=False,
        )
    except DjangoValidationError as exc:
        raise ValidationError(exc.message_dict) from exc


def save_checked(
    record: ClinicalRecord,
    *,
    refused: Callable[[str], dict[str, str] | None] = lambda _: None,
    update_fields: list[str] | None = None,
) -> None:
    """Save, turning a constraint the database refused the row for into a 400 naming the field.
    `refused` maps the constraint error's text to the fields of a record's own constraints."""
    try:
        with transaction.atomic():
            if update_fields is None:
                record.save(force_insert=True)
            else:
                record.save(update_fields=[*update_fields, "updated_at"])
    except IntegrityError as exc:
        text = str(exc)
        if "_external_id_unique" in text:
            raise ValidationError({"external_id": _DUPLICATE_EXTERNAL_ID}) from None
        fields = refused(text)
        if fields is not None:
            raise ValidationError(fields) from None
        raise


def locked(record: R) -> R:
    """The record read again under its row lock, refused if it was entered in error."""
    fresh = type(record)._default_manager.select_for_update().get(pk=record.pk)
    if fresh.entered_in_error:
        raise Conflict({"entered_in_error": _ENTERED_IN_ERROR})
    return fresh


def apply(record: ClinicalRecord, changes: dict[str, Any]) -> list[str]:
    """Set the given (not UNSET) values; the names of the fields that changed."""
    changed = []
    for name, value in changes.items():
        if isinstance(value, Unset):
            continue
        if getattr(record, name) != value:
            setattr(record, name, value)
            changed.append(name)
    return changed


def upsert(
    *,
    model: type[R],
    by: Caller,
    external_id: str,
    create: Callable[[], R],
    update: Callable[[R], R],
) -> tuple[R, bool]:
    """Create the record the source system knows as `external_id`, or update the one it names.
    Returns (record, created). Two clients upserting the same id at once still leave one record:
    the loser of the insert race finds the winner's row and updates it."""
    existing = model._default_manager.select_for_update().filter(clinic=by.clinic, external_id=external_id).first()
    if existing is not None:
        return update(existing), False
    try:
        with transaction.atomic():
            return create(), True
    except ValidationError as exc:
        if not isinstance(exc.detail, dict) or exc.detail.get("external_id") is None:
            raise
    existing = model._default_manager.select_for_update().get(clinic=by.clinic, external_id=external_id)
    return update(existing), False


@transaction.atomic
def record_mark_entered_in_error(*, record: R, by: Caller, reason: str, now: datetime.datetime | None = None) -> R:
    """Mark a record entered in error, with why. It stays (records are never deleted) and the risk
    rules ignore it from then on; the change is final."""
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why the record was entered in error."})
    if len(reason) > REASON_MAX_LENGTH:
        raise ValidationError({"reason": f"At most {REASON_MAX_LENGTH} characters."})
    fresh = locked(record)
    fresh.entered_in_error = True
    fresh.entered_in_error_reason = reason
    fresh.entered_in_error_at = now or timezone.now()
    save_checked(fresh, update_fields=["entered_in_error", "entered_in_error_reason", "entered_in_error_at"])
    risk_evaluate_after_commit([fresh.patient_id])
    return fresh
