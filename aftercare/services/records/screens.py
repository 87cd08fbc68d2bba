"""Recording drug screens with their results, and whether each result is what the patient's
medication-assisted treatment predicts (`expected`)."""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from aftercare.models import (
    ActivityKind,
    Analyte,
    DrugScreen,
    DrugScreenResult,
    Medication,
    PlanActivity,
    PlanStatus,
    ScreenResult,
)
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

# The maintenance medications a screen detects as themselves: a patient on one should test positive
# for it (a negative suggests doses not taken, or diverted).
_MAINTENANCE = {Analyte.METHADONE: Medication.METHADONE, Analyte.BUPRENORPHINE: Medication.BUPRENORPHINE}


@dataclass(frozen=True)
class ResultInput:
    """One analyte's result as the caller gives it; `expected` None means work it out."""

    analyte: str
    result: str
    expected: bool | None = None


def patient_maintenance_medications(*, patient: Patient) -> frozenset[str]:
    """The medications of the medication activities of the patient's active plan."""
    return frozenset(
        PlanActivity.objects.filter(
            plan__patient=patient, plan__status=PlanStatus.ACTIVE, kind=ActivityKind.MEDICATION
        ).values_list("medication", flat=True)
    )


def result_expected(*, analyte: str, result: str, medications: frozenset[str]) -> bool:
    """Whether a result is what the treatment predicts. Methadone or buprenorphine: positive is
    expected exactly for a patient on it. Any other analyte: negative is expected, positive is not.
    An invalid specimen is never expected (it may be a diluted or substituted one)."""
    if result == ScreenResult.INVALID:
        return False
    medication = _MAINTENANCE.get(analyte)  # type: ignore[call-overload]
    if medication is not None:
        return (result == ScreenResult.POSITIVE) == (medication in medications)
    return result == ScreenResult.NEGATIVE


def _check_results(errors: dict[str, str], results: Sequence[ResultInput]) -> None:
    twice = sorted(analyte for analyte, count in Counter(item.analyte for item in results).items() if count > 1)
    if twice:
        errors["analyte_results"] = f"Each analyte appears once in a screen: {', '.join(twice)} appears more than once."
    for item in results:
        if item.analyte not in Analyte.values:
            errors["analyte_results"] = f"Unknown analyte: {item.analyte}."
        elif item.result not in ScreenResult.values:
            errors["analyte_results"] = f"Unknown result: {item.result}."


def _write_results(screen: DrugScreen, results: Sequence[ResultInput]) -> None:
    """The screen's results become exactly `results` (the history keeps any row replaced)."""
    medications = patient_maintenance_medications(patient=screen.patient)
    current = {row.analyte: row for row in DrugScreenResult.objects.select_for_update().filter(screen=screen)}
    given = {item.analyte for item in results}
    gone = [row.pk for analyte, row in current.items() if analyte not in given]
    if gone:
        DrugScreenResult.objects.filter(pk__in=gone).delete()
    for item in results:
        stated = item.expected is not None
        expected = (
            item.expected
            if item.expected is not None
            else result_expected(analyte=item.analyte, result=item.result, medications=medications)
        )
        row = current.get(item.analyte)
        if row is None:
            DrugScreenResult.objects.create(
                screen=screen, analyte=item.analyte, result=item.result, expected=expected, expected_stated=stated
            )
        elif (row.result, row.expected, row.expected_stated) != (item.result, expected, stated):
            row.result, row.expected, row.expected_stated = item.result, expected, stated
            row.save(update_fields=["result", "expected", "expected_stated", "updated_at"])


@transaction.atomic
def drug_screen_create(
    *,
    by: Caller,
    patient: Patient,
    collected_on: datetime.date,
    analyte_results: Sequence[ResultInput] = (),
    specimen: str = "urine",
    panel: str = "",
    notes: str = "",
    external_id: str = "",
    now: datetime.datetime | None = None,
) -> DrugScreen:
    """A screen collected on `collected_on` (clinic calendar, never a future day) with its results,
    each analyte once; `expected` is worked out for each result the caller did not state it for."""
    errors: dict[str, str] = {}
    check_common(
        errors,
        by=by,
        patient=patient,
        day=("collected_on", collected_on),
        notes=notes,
        external_id=external_id,
        now=now,
    )
    _check_results(errors, analyte_results)
    raise_if(errors)
    screen = DrugScreen(
        clinic=by.clinic,
        patient=patient,
        collected_on=collected_on,
        specimen=specimen,
        panel=panel.strip(),
        notes=notes.strip(),
        external_id=external_id.strip(),
        **recorder(by),
    )
    full_clean(screen)
    save_checked(screen)
    _write_results(screen, analyte_results)
    risk_evaluate_after_commit([patient.pk])
    return screen


@transaction.atomic
def drug_screen_update(
    *,
    screen: DrugScreen,
    by: Caller,
    patient: Patient | Unset = UNSET,
    collected_on: datetime.date | Unset = UNSET,
    analyte_results: Sequence[ResultInput] | Unset = UNSET,
    specimen: str | Unset = UNSET,
    panel: str | Unset = UNSET,
    notes: str | Unset = UNSET,
    external_id: str | Unset = UNSET,
    now: datetime.datetime | None = None,
) -> DrugScreen:
    """Correct a screen's details; `analyte_results`, when given, replace its results. A screen entered in
    error cannot change (409)."""
    fresh = locked(screen)
    if not isinstance(patient, Unset) and patient.pk != fresh.patient_id:
        raise_if({"patient": MOVED})
    changes: dict[str, Any] = {
        "collected_on": collected_on,
        "specimen": specimen,
        "panel": panel if isinstance(panel, Unset) else panel.strip(),
        "notes": notes if isinstance(notes, Unset) else notes.strip(),
        "external_id": external_id if isinstance(external_id, Unset) else external_id.strip(),
    }
    changed = apply(fresh, changes)
    errors: dict[str, str] = {}
    check_common(
        errors,
        by=by,
        patient=fresh.patient,
        day=("collected_on", fresh.collected_on) if "collected_on" in changed else None,
        notes=fresh.notes,
        external_id=fresh.external_id,
        now=now,
    )
    if not isinstance(analyte_results, Unset):
        _check_results(errors, analyte_results)
    raise_if(errors)
    if changed:
        full_clean(fresh)
        save_checked(fresh, update_fields=changed)
    if not isinstance(analyte_results, Unset):
        _write_results(fresh, analyte_results)
        if not changed:
            fresh.save(update_fields=["updated_at"])  # a client syncing by updated_at sees new results
    if changed or not isinstance(analyte_results, Unset):
        risk_evaluate_after_commit([fresh.patient_id])
    return fresh


@transaction.atomic
def drug_screen_upsert(*, by: Caller, external_id: str, **fields: Any) -> tuple[DrugScreen, bool]:
    """Create or replace the screen the source system knows as `external_id` (the fields are those
    of `drug_screen_create`)."""
    return upsert(
        model=DrugScreen,
        by=by,
        external_id=external_id,
        create=lambda: drug_screen_create(by=by, external_id=external_id, **fields),
        update=lambda existing: drug_screen_update(screen=existing, by=by, **fields),
    )
