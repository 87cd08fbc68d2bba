"""Recording medication-assisted treatment events: observed doses, take-home supplies, injections
and missed doses, one of each kind per patient, medication and dosing day."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction

from aftercare.models import Medication, MedicationEvent, MedicationEventKind
from aftercare.models.records import TAKE_HOME_MAX_DAYS
from aftercare.services.records.common import (
    MOVED,
    UNSET,
    Unset,
    apply,
    check_common,
    full_clean,
    locked,
    raise_if,
    recorder,
    save_checked,
    upsert,
)
from aftercare.services.risk import risk_evaluate_after_commit
from clinic.auth.caller import Caller
from clinic.models import Patient

_ONCE_A_DAY = "An event of this kind for this medication is already recorded for the patient on this day."


def _check_event(errors: dict[str, str], event: MedicationEvent) -> None:
    """The kind's own rules, before the database's constraints would refuse the row unnamed."""
    take_home = event.kind == MedicationEventKind.TAKE_HOME_DISPENSED
    if take_home and event.days_covered is None:
        errors["days_covered"] = "Required for a take-home supply."
    elif take_home and event.days_covered is not None and not 1 <= event.days_covered <= TAKE_HOME_MAX_DAYS:
        errors["days_covered"] = f"From 1 to {TAKE_HOME_MAX_DAYS} days."
    elif not take_home and event.days_covered is not None:
        errors["days_covered"] = "Only a take-home supply covers days."
    if event.kind == MedicationEventKind.INJECTION_GIVEN and event.medication != Medication.NALTREXONE:
        errors["kind"] = "Only extended-release naltrexone is given as an injection."
    if event.dose_mg is not None and event.dose_mg <= 0:
        errors["dose_mg"] = "Must be greater than 0."


def _refused(text: str) -> dict[str, str] | None:
    if "medication_event_once_a_day" in text:
        return {"occurred_on": _ONCE_A_DAY}
    return None


@transaction.atomic
def medication_event_create(
    *,
    by: Caller,
    patient: Patient,
    medication: str,
    kind: str,
    occurred_on: datetime.date,
    days_covered: int | None = None,
    dose_mg: Decimal | None = None,
    notes: str = "",
    external_id: str = "",
    now: datetime.datetime | None = None,
) -> MedicationEvent:
    """An event on the dosing day `occurred_on` (clinic calendar, never a future day). A second
    event of the same kind, medication and day is refused naming `occurred_on`, unless the first
    was entered in error."""
    errors: dict[str, str] = {}
    check_common(
        errors, by=by, patient=patient, day=("occurred_on", occurred_on), notes=notes, external_id=external_id, now=now
    )
    event = MedicationEvent(
        clinic=by.clinic,
        patient=patient,
        medication=medication,
        kind=kind,
        occurred_on=occurred_on,
        days_covered=days_covered,
        dose_mg=dose_mg,
        notes=notes.strip(),
        external_id=external_id.strip(),
        **recorder(by),
    )
    _check_event(errors, event)
    raise_if(errors)
    full_clean(event)
    save_checked(event, refused=_refused)
    risk_evaluate_after_commit([patient.pk])
    return event


@transaction.atomic
def medication_event_update(
    *,
    event: MedicationEvent,
    by: Caller,
    patient: Patient | Unset = UNSET,
    medication: str | Unset = UNSET,
    kind: str | Unset = UNSET,
    occurred_on: datetime.date | Unset = UNSET,
    days_covered: int | Unset | None = UNSET,
    dose_mg: Decimal | Unset | None = UNSET,
    notes: str | Unset = UNSET,
    external_id: str | Unset = UNSET,
    now: datetime.datetime | None = None,
) -> MedicationEvent:
    """Correct an event's details (not its patient). An event entered in error cannot change (409)."""
    fresh = locked(event)
    if not isinstance(patient, Unset) and patient.pk != fresh.patient_id:
        raise_if({"patient": MOVED})
    changes: dict[str, Any] = {
        "medication": medication,
        "kind": kind,
        "occurred_on": occurred_on,
        "days_covered": days_covered,
        "dose_mg": dose_mg,
        "notes": notes if isinstance(notes, Unset) else notes.strip(),
        "external_id": external_id if isinstance(external_id, Unset) else external_id.strip(),
    }
    changed = apply(fresh, changes)
    errors: dict[str, str] = {}
    check_common(
        errors,
        by=by,
        patient=fresh.patient,
        day=("occurred_on", fresh.occurred_on) if "occurred_on" in changed else None,
        notes=fresh.notes,
        external_id=fresh.external_id,
        now=now,
    )
    _check_event(errors, fresh)
    raise_if(errors)
    if changed:
        full_clean(fresh)
        save_checked(fresh, refused=_refused, update_fields=changed)
        risk_evaluate_after_commit([fresh.patient_id])
    return fresh


@transaction.atomic
def medication_event_upsert(*, by: Caller, external_id: str, **fields: Any) -> tuple[MedicationEvent, bool]:
    """Create or replace the event the source system knows as `external_id` (the fields are those
    of `medication_event_create`)."""
    return upsert(
        model=MedicationEvent,
        by=by,
        external_id=external_id,
        create=lambda: medication_event_create(by=by, external_id=external_id, **fields),
        update=lambda existing: medication_event_update(event=existing, by=by, **fields),
    )
