"""The database's own guards on the clinical records, for writes that bypass the services: a record
is never deleted, one entered in error never changes again, its patient is of its clinic, one
medication event per patient, medication, kind and day; and `expected` as a pure rule."""

from __future__ import annotations

import datetime

import pytest
from django.db import IntegrityError, InternalError, ProgrammingError, transaction
from django.utils import timezone

from aftercare.models import CareTransition, MedicationEvent
from aftercare.services.records import (
    care_transition_create,
    medication_event_create,
    record_mark_entered_in_error,
    result_expected,
)
from clinic.auth.caller import Caller
from clinic.auth.scopes import ALL_SCOPES
from clinic.models import Clinic
from tests.factories import ClinicFactory, PatientFactory, integration_client


def _by(clinic: Clinic) -> Caller:
    return Caller(clinic=clinic, scopes=ALL_SCOPES, client=integration_client(clinic, list(ALL_SCOPES)))


def _transition(clinic: Clinic) -> CareTransition:
    return care_transition_create(
        by=_by(clinic),
        patient=PatientFactory.create(clinic=clinic),
        direction="discharged",
        level_of_care="outpatient",
        occurred_on=timezone.localdate(),
    )


def test_a_record_is_never_deleted(db: None) -> None:
    transition = _transition(ClinicFactory.create())
    with pytest.raises((ProgrammingError, InternalError)), transaction.atomic():
        CareTransition.objects.filter(pk=transition.pk).delete()
    assert CareTransition.objects.filter(pk=transition.pk).exists()


def test_a_record_entered_in_error_never_changes_again(db: None) -> None:
    clinic = ClinicFactory.create()
    transition = _transition(clinic)
    record_mark_entered_in_error(record=transition, by=_by(clinic), reason="Wrong chart.")
    with pytest.raises((ProgrammingError, InternalError)), transaction.atomic():
        CareTransition.objects.filter(pk=transition.pk).update(entered_in_error=False, entered_in_error_reason="")
    with pytest.raises((ProgrammingError, InternalError)), transaction.atomic():
        CareTransition.objects.filter(pk=transition.pk).update(source="Elsewhere")


def test_a_raw_write_cannot_give_a_record_another_clinics_patient(db: None) -> None:
    clinic, other = ClinicFactory.create(), ClinicFactory.create()
    transition = _transition(clinic)
    with pytest.raises(IntegrityError), transaction.atomic():
        CareTransition.objects.filter(pk=transition.pk).update(patient=PatientFactory.create(clinic=other))


def test_marking_entered_in_error_is_complete_or_refused(db: None) -> None:
    transition = _transition(ClinicFactory.create())
    with pytest.raises(IntegrityError), transaction.atomic():
        CareTransition.objects.filter(pk=transition.pk).update(entered_in_error=True)


def test_the_database_keeps_one_event_per_patient_medication_kind_and_day(db: None) -> None:
    clinic = ClinicFactory.create()
    event = medication_event_create(
        by=_by(clinic),
        patient=PatientFactory.create(clinic=clinic),
        medication="methadone",
        kind="dose_observed",
        occurred_on=timezone.localdate() - datetime.timedelta(days=1),
    )
    copy = MedicationEvent(
        clinic=clinic,
        patient=event.patient,
        medication=event.medication,
        kind=event.kind,
        occurred_on=event.occurred_on,
        recorded_by_client=event.recorded_by_client,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        copy.save(force_insert=True)


@pytest.mark.parametrize(
    ("analyte", "result", "medications", "expected"),
    [
        ("methadone", "positive", {"methadone"}, True),
        ("methadone", "negative", {"methadone"}, False),
        ("methadone", "positive", set(), False),
        ("methadone", "negative", {"buprenorphine"}, True),
        ("buprenorphine", "positive", {"buprenorphine"}, True),
        ("buprenorphine", "negative", {"buprenorphine"}, False),
        ("buprenorphine", "positive", {"naltrexone"}, False),
        ("opioids", "positive", {"methadone"}, False),
        ("fentanyl", "negative", {"methadone"}, True),
        ("alcohol", "invalid", set(), False),
    ],
)
def test_expected_is_what_the_treatment_predicts(
    analyte: str, result: str, medications: set[str], expected: bool
) -> None:
    assert result_expected(analyte=analyte, result=result, medications=frozenset(medications)) is expected
