"""Recording care transitions: a step down into this clinic's aftercare, or a discharge from it."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import transaction

from aftercare.models import CareTransition
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


@transaction.atomic
def care_transition_create(
    *,
    by: Caller,
    patient: Patient,
    direction: str,
    level_of_care: str,
    occurred_on: datetime.date,
    source: str = "",
    notes: str = "",
    external_id: str = "",
    now: datetime.datetime | None = None,
) -> CareTransition:
    """A transition on `occurred_on`, a day of the clinic's calendar (never a future one)."""
    errors: dict[str, str] = {}
    check_common(
        errors, by=by, patient=patient, day=("occurred_on", occurred_on), notes=notes, external_id=external_id, now=now
    )
    raise_if(errors)
    transition = CareTransition(
        clinic=by.clinic,
        patient=patient,
        direction=direction,
        level_of_care=level_of_care,
        occurred_on=occurred_on,
        source=source.strip(),
        notes=notes.strip(),
        external_id=external_id.strip(),
        **recorder(by),
    )
    full_clean(transition)
    save_checked(transition)
    risk_evaluate_after_commit([patient.pk])
    return transition


@transaction.atomic
def care_transition_update(
    *,
    transition: CareTransition,
    by: Caller,
    patient: Patient | Unset = UNSET,
    direction: str | Unset = UNSET,
    level_of_care: str | Unset = UNSET,
    occurred_on: datetime.date | Unset = UNSET,
    source: str | Unset = UNSET,
    notes: str | Unset = UNSET,
    external_id: str | Unset = UNSET,
    now: datetime.datetime | None = None,
) -> CareTransition:
    """Correct a transition's details (not its patient: that is a new record). A transition
    entered in error cannot change (409)."""
    fresh = locked(transition)
    if not isinstance(patient, Unset) and patient.pk != fresh.patient_id:
        raise_if({"patient": MOVED})
    changes: dict[str, Any] = {
        "direction": direction,
        "level_of_care": level_of_care,
        "occurred_on": occurred_on,
        "source": source if isinstance(source, Unset) else source.strip(),
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
    raise_if(errors)
    if changed:
        full_clean(fresh)
        save_checked(fresh, update_fields=changed)
        risk_evaluate_after_commit([fresh.patient_id])
    return fresh


@transaction.atomic
def care_transition_upsert(*, by: Caller, external_id: str, **fields: Any) -> tuple[CareTransition, bool]:
    """Create or replace the transition the source system knows as `external_id` (the fields are
    those of `care_transition_create`)."""
    return upsert(
        model=CareTransition,
        by=by,
        external_id=external_id,
        create=lambda: care_transition_create(by=by, external_id=external_id, **fields),
        update=lambda existing: care_transition_update(transition=existing, by=by, **fields),
    )
