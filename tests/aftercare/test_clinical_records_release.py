"""A release under a consent carries the clinical records exactly when their category is released:
care transitions with `enrollment`, MAT events with `medication`, drug screens with `drug_screens`
(a new category, which a consent recorded as "all" before it existed never covers); records
entered in error never go; releasing a category needs the read scope of every record it holds."""

from __future__ import annotations

import datetime
from typing import Any

from django.utils import timezone

from aftercare.services.records import (
    ResultInput,
    care_transition_create,
    drug_screen_create,
    medication_event_create,
    record_mark_entered_in_error,
)
from clinic.models import DisclosureCategory, Patient
from tests.clinic.test_consents import caller_of, record, release
from tests.conftest import Persona
from tests.factories import PatientFactory


def _day(days_ago: int) -> datetime.date:
    return timezone.localdate() - datetime.timedelta(days=days_ago)


def _patient_with_records(ehr: Persona) -> Patient:
    patient = PatientFactory.create(clinic=ehr.clinic)
    by = caller_of(ehr)
    care_transition_create(
        by=by, patient=patient, direction="entered_aftercare", level_of_care="inpatient", occurred_on=_day(20)
    )
    wrong = care_transition_create(
        by=by, patient=patient, direction="discharged", level_of_care="outpatient", occurred_on=_day(5)
    )
    record_mark_entered_in_error(record=wrong, by=by, reason="Another patient's discharge.")
    medication_event_create(
        by=by,
        patient=patient,
        medication="buprenorphine",
        kind="take_home_dispensed",
        occurred_on=_day(3),
        days_covered=7,
        notes="Collected by the patient's sister",
    )
    drug_screen_create(
        by=by,
        patient=patient,
        collected_on=_day(2),
        panel="12-panel",
        notes="Patient says a friend's pill",
        analyte_results=[ResultInput("buprenorphine", "positive"), ResultInput("oxycodone", "positive")],
    )
    return patient


def _released(ehr: Persona, patient: Patient, categories: list[str]) -> dict[str, Any]:
    consent = record(ehr, patient, categories=categories)
    response = release(ehr, patient, consent["id"], categories=categories)
    assert response.status_code == 201, response.content
    return response.json()["data"]  # type: ignore[no-any-return]


def test_each_kind_goes_with_its_own_category_and_entered_in_error_never(ehr_a: Persona) -> None:
    patient = _patient_with_records(ehr_a)
    data = _released(ehr_a, patient, ["enrollment", "medication", "drug_screens"])
    assert data["enrollment"]["care_transitions"] == [
        {"direction": "entered_aftercare", "level_of_care": "inpatient", "occurred_on": str(_day(20)), "source": ""}
    ]
    assert data["medication"]["events"] == [
        {
            "medication": "buprenorphine",
            "kind": "take_home_dispensed",
            "occurred_on": str(_day(3)),
            "days_covered": 7,
            "dose_mg": None,
        }
    ]
    assert data["drug_screens"] == [
        {
            "collected_on": str(_day(2)),
            "specimen": "urine",
            "panel": "12-panel",
            "results": [
                {"analyte": "buprenorphine", "result": "positive", "expected": False},
                {"analyte": "oxycodone", "result": "positive", "expected": False},
            ],
        }
    ]


def test_without_their_categories_no_record_of_them_goes(ehr_a: Persona) -> None:
    patient = _patient_with_records(ehr_a)
    data = _released(ehr_a, patient, ["attendance", "plan"])
    text = str(data)
    for word in ("buprenorphine", "oxycodone", "inpatient", "take_home", "12-panel", "care_transitions"):
        assert word not in text, word
    enrollment = _released(ehr_a, patient, ["enrollment"])
    assert set(enrollment) == {"enrollment"}
    assert "sister" not in str(enrollment)  # no notes in any release
    screens = _released(ehr_a, patient, ["drug_screens"])
    assert "friend" not in str(screens)


def test_a_consent_to_all_recorded_today_covers_drug_screens_and_one_without_it_does_not(ehr_a: Persona) -> None:
    patient = _patient_with_records(ehr_a)
    everything = record(ehr_a, patient, categories=["all"])
    assert DisclosureCategory.DRUG_SCREENS in everything["categories"]
    assert release(ehr_a, patient, everything["id"], categories=["drug_screens"]).status_code == 201
    # What a consent to "all" recorded before the category existed holds: every other category.
    before = record(ehr_a, patient, categories=[c for c in DisclosureCategory.values if c != "drug_screens"])
    refused = release(ehr_a, patient, before["id"], categories=["drug_screens"])
    assert refused.status_code == 400
    assert {error["attr"] for error in refused.json()["errors"]} == {"categories"}


def test_releasing_a_category_needs_the_read_scope_of_every_record_it_holds(ehr_a: Persona, make_client: Any) -> None:
    patient = _patient_with_records(ehr_a)
    consent = record(ehr_a, patient, categories=["enrollment", "medication", "drug_screens"])
    for category, scope in (
        ("enrollment", "transitions:read"),
        ("medication", "medication:read"),
        ("drug_screens", "screens:read"),
    ):
        scopes = ["consents:read", "disclosures:write", "patients:read", "plans:read", "transitions:read"]
        scopes += ["medication:read", "screens:read"]
        without = make_client(ehr_a.clinic, [s for s in scopes if s != scope])
        refused = release(without, patient, consent["id"], categories=[category])
        assert refused.status_code == 403, (category, refused.content)
        assert scope in refused.json()["errors"][0]["detail"]
        allowed = make_client(ehr_a.clinic, scopes)
        assert release(allowed, patient, consent["id"], categories=[category]).status_code == 201
