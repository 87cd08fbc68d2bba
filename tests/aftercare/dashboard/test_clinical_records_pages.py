"""The patient page's clinical records: a section per kind (care transitions, medication events, drug
screens), most recent first, a form to record one and a form to mark one entered in error; roles as
the API's scopes say (front desk sees none of it, the auditor reads), another clinic's patient or
record is the 404 page, refusals name the field and write nothing, CSRF is enforced."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aftercare.models import CareTransition, DrugScreen, MedicationEvent, OutboxMessage
from aftercare.services.records import (
    ResultInput,
    care_transition_create,
    drug_screen_create,
    medication_event_create,
    record_mark_entered_in_error,
)
from clinic.auth.caller import Caller
from clinic.auth.scopes import ROLE_SCOPES
from clinic.models import AccessEvent, Clinic, Patient, Role
from tests.factories import ClinicFactory, PatientFactory, integration_client, verified_login

StaffClient = Callable[..., tuple[Any, Any]]


def _day(days_ago: int) -> datetime.date:
    return timezone.localdate() - datetime.timedelta(days=days_ago)


def _caller(clinic: Clinic) -> Caller:
    client = integration_client(clinic, list(ROLE_SCOPES[Role.ADMIN]))
    return Caller(clinic=clinic, scopes=ROLE_SCOPES[Role.ADMIN], client=client)


def _records(patient: Patient) -> dict[str, Any]:
    by = _caller(patient.clinic)
    return {
        "care-transitions": care_transition_create(
            by=by,
            patient=patient,
            direction="entered_aftercare",
            level_of_care="residential",
            occurred_on=_day(9),
            source="Hillside Residential",
        ),
        "medication-events": medication_event_create(
            by=by, patient=patient, medication="methadone", kind="dose_missed", occurred_on=_day(2)
        ),
        "drug-screens": drug_screen_create(
            by=by,
            patient=patient,
            collected_on=_day(3),
            analyte_results=[ResultInput("fentanyl", "positive")],
        ),
    }


FORMS: dict[str, dict[str, Any]] = {
    "care-transitions": {
        "transition-direction": "discharged",
        "transition-level_of_care": "intensive_outpatient",
        "transition-occurred_on": "",
        "transition-source": "Riverside IOP",
    },
    "medication-events": {
        "medication-medication": "buprenorphine",
        "medication-kind": "take_home_dispensed",
        "medication-occurred_on": "",
        "medication-days_covered": "7",
    },
    "drug-screens": {
        "screen-collected_on": "",
        "screen-specimen": "urine",
        "screen-panel": "12-panel",
        "screen-result_methadone": "negative",
        "screen-result_benzodiazepines": "positive",
        "screen-prescribed": ["benzodiazepines"],
    },
}
DAY_FIELD = {
    "care-transitions": "transition-occurred_on",
    "medication-events": "medication-occurred_on",
    "drug-screens": "screen-collected_on",
}
MODELS = {"care-transitions": CareTransition, "medication-events": MedicationEvent, "drug-screens": DrugScreen}


def _form(kind: str, day: datetime.date) -> dict[str, Any]:
    return {**FORMS[kind], DAY_FIELD[kind]: day.isoformat()}


def test_the_patient_page_shows_each_kind_most_recent_first_and_the_corrections(staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic)
    made = _records(patient)
    by = _caller(clinic)
    care_transition_create(
        by=by, patient=patient, direction="discharged", level_of_care="outpatient", occurred_on=_day(1)
    )
    record_mark_entered_in_error(record=made["medication-events"], by=by, reason="Was the other patient.")
    client, _ = staff_client(clinic, Role.CLINICIAN)
    page = client.get(f"/patients/{patient.pk}/").content.decode()
    for heading in ("Care transitions", "Medication events", "Drug screens"):
        assert heading in page
    assert page.index("Discharged from") < page.index("Stepped down into")
    assert "Hillside Residential" in page
    assert "Was the other patient." in page
    assert "entered-in-error" in page
    assert "(unexpected)" in page  # the fentanyl positive
    assert page.count('name="reason"') == 3  # the rows in force, not the one already corrected
    assert "Record a drug screen" in page


@pytest.mark.parametrize("kind", list(FORMS))
def test_a_clinician_records_one_and_comes_back_to_the_patient_page(staff_client: StaffClient, kind: str) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic)
    client, user = staff_client(clinic, Role.CLINICIAN)
    response = client.post(f"/patients/{patient.pk}/{kind}/new/", _form(kind, _day(1)))
    assert response.status_code == 302, response.content
    assert response["Location"] == f"/patients/{patient.pk}/#{kind}"
    made = MODELS[kind]._default_manager.get()
    assert (made.patient_id, made.recorded_by_id, made.recorded_by_client_id) == (patient.pk, user.pk, None)
    assert OutboxMessage.objects.filter(payload__patient_ids=[str(patient.pk)]).count() == 1
    event = AccessEvent.objects.filter(action="create").get()
    assert (event.object_ids, event.patient_ids) == ([made.pk], [patient.pk])


def test_a_prescribed_positive_is_stated_expected_from_the_form(staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic)
    client, _ = staff_client(clinic, Role.CASE_MANAGER)
    client.post(f"/patients/{patient.pk}/drug-screens/new/", _form("drug-screens", _day(0)))
    results = {
        row.analyte: (row.result, row.expected, row.expected_stated) for row in DrugScreen.objects.get().results.all()
    }
    assert results == {"benzodiazepines": ("positive", True, True), "methadone": ("negative", True, False)}


@pytest.mark.parametrize("kind", list(FORMS))
def test_a_future_day_is_refused_next_to_its_field_and_writes_nothing(staff_client: StaffClient, kind: str) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic)
    client, _ = staff_client(clinic, Role.CLINICIAN)
    response = client.post(f"/patients/{patient.pk}/{kind}/new/", _form(kind, _day(-2)))
    assert response.status_code == 200
    assert f'id="id_{DAY_FIELD[kind]}_error"' in response.content.decode()
    assert not MODELS[kind]._default_manager.exists()
    assert not OutboxMessage.objects.exists()


def test_service_refusals_are_shown_by_field(staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic)
    client, _ = staff_client(clinic, Role.CLINICIAN)
    missing = {**_form("medication-events", _day(1)), "medication-days_covered": ""}
    page = client.post(f"/patients/{patient.pk}/medication-events/new/", missing).content.decode()
    assert 'id="id_medication-days_covered_error"' in page
    injection = {
        **_form("medication-events", _day(1)),
        "medication-kind": "injection_given",
        "medication-days_covered": "",
    }
    page = client.post(f"/patients/{patient.pk}/medication-events/new/", injection).content.decode()
    assert 'id="id_medication-kind_error"' in page
    nothing = {"screen-collected_on": _day(1).isoformat(), "screen-specimen": "urine"}
    page = client.post(f"/patients/{patient.pk}/drug-screens/new/", nothing).content.decode()
    assert "Give the result of at least one analyte." in page
    assert not MedicationEvent.objects.exists()
    assert not DrugScreen.objects.exists()


@pytest.mark.parametrize("kind", list(FORMS))
def test_marking_one_entered_in_error_needs_a_reason_and_is_final(staff_client: StaffClient, kind: str) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic)
    target = _records(patient)[kind]
    client, _ = staff_client(clinic, Role.CLINICIAN)
    url = f"/patients/{patient.pk}/{kind}/{target.pk}/entered-in-error/"
    refused = client.post(url, {"reason": ""})
    assert refused.status_code == 200
    assert "Say why the record was entered in error." in refused.content.decode()
    assert client.post(url, {"reason": "Charted on the wrong patient."}).status_code == 302
    target.refresh_from_db()
    assert (target.entered_in_error, target.entered_in_error_reason) == (True, "Charted on the wrong patient.")
    again = client.post(url, {"reason": "Twice."})
    assert again.status_code == 200
    assert "entered in error" in again.content.decode()


@pytest.mark.parametrize("kind", list(FORMS))
def test_another_clinics_patient_or_record_is_the_404_page(staff_client: StaffClient, kind: str) -> None:
    mine, theirs = ClinicFactory.create(), ClinicFactory.create()
    my_patient = PatientFactory.create(clinic=mine)
    their_patient = PatientFactory.create(clinic=theirs)
    their_record = _records(their_patient)[kind]
    my_record = _records(my_patient)[kind]
    client, _ = staff_client(mine, Role.CLINICIAN)
    assert client.get(f"/patients/{their_patient.pk}/{kind}/new/").status_code == 404
    assert client.post(f"/patients/{their_patient.pk}/{kind}/new/", _form(kind, _day(1))).status_code == 404
    # Their record under their patient, and under mine: neither is found.
    for patient in (their_patient, my_patient):
        url = f"/patients/{patient.pk}/{kind}/{their_record.pk}/entered-in-error/"
        assert client.post(url, {"reason": "Not ours."}).status_code == 404
    # My record under another of my patients is not found either.
    other = PatientFactory.create(clinic=mine)
    assert (
        client.post(f"/patients/{other.pk}/{kind}/{my_record.pk}/entered-in-error/", {"reason": "x"}).status_code == 404
    )
    assert MODELS[kind]._default_manager.filter(clinic=mine).count() == 1
    assert not MODELS[kind]._default_manager.filter(entered_in_error=True).exists()
    assert AccessEvent.objects.filter(action="denied").count() == 5


@pytest.mark.parametrize("kind", list(FORMS))
def test_front_desk_sees_none_of_it_and_the_auditor_reads_without_forms(staff_client: StaffClient, kind: str) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic)
    target = _records(patient)[kind]
    front_desk, _ = staff_client(clinic, Role.FRONT_DESK)
    page = front_desk.get(f"/patients/{patient.pk}/").content.decode()
    assert "Care transitions" not in page
    assert "Drug screens" not in page
    assert "Medication events" not in page
    assert front_desk.get(f"/patients/{patient.pk}/{kind}/new/").status_code == 403
    assert front_desk.post(f"/patients/{patient.pk}/{kind}/new/", _form(kind, _day(1))).status_code == 403
    error_url = f"/patients/{patient.pk}/{kind}/{target.pk}/entered-in-error/"
    assert front_desk.post(error_url, {"reason": "x"}).status_code == 403
    auditor, _ = staff_client(clinic, Role.AUDITOR)
    page = auditor.get(f"/patients/{patient.pk}/").content.decode()
    assert f'id="{kind}"' in page
    assert 'name="reason"' not in page
    assert "Record a" not in page
    assert auditor.post(f"/patients/{patient.pk}/{kind}/new/", _form(kind, _day(1))).status_code == 403
    assert auditor.post(error_url, {"reason": "x"}).status_code == 403
    assert MODELS[kind]._default_manager.count() == 1
    target.refresh_from_db()
    assert target.entered_in_error is False
    for role in (Role.ADMIN, Role.CASE_MANAGER):
        writer, _ = staff_client(clinic, role)
        assert writer.get(f"/patients/{patient.pk}/{kind}/new/").status_code == 200


def test_the_forms_need_the_csrf_token(staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic)
    target = _records(patient)["care-transitions"]
    _, user = staff_client(clinic, Role.CLINICIAN)

    strict = Client(enforce_csrf_checks=True)
    verified_login(strict, user)
    assert (
        strict.post(f"/patients/{patient.pk}/care-transitions/new/", _form("care-transitions", _day(1))).status_code
        == 403
    )
    url = f"/patients/{patient.pk}/care-transitions/{target.pk}/entered-in-error/"
    assert strict.post(url, {"reason": "x"}).status_code == 403
    assert CareTransition.objects.count() == 1
    assert 'name="csrfmiddlewaretoken"' in strict.get(f"/patients/{patient.pk}/").content.decode()


def test_the_sections_cost_the_same_queries_for_one_record_or_many(staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    few, many = PatientFactory.create(clinic=clinic), PatientFactory.create(clinic=clinic)
    _records(few)
    _records(many)
    by = _caller(clinic)
    for days_ago in range(10, 18):
        care_transition_create(
            by=by, patient=many, direction="discharged", level_of_care="outpatient", occurred_on=_day(days_ago)
        )
        medication_event_create(
            by=by, patient=many, medication="naltrexone", kind="injection_given", occurred_on=_day(days_ago)
        )
        drug_screen_create(
            by=by,
            patient=many,
            collected_on=_day(days_ago),
            analyte_results=[ResultInput("opioids", "negative"), ResultInput("cocaine", "positive")],
        )
    client, _ = staff_client(clinic, Role.CLINICIAN)
    client.get(f"/patients/{few.pk}/")
    counts = []
    for patient in (few, many):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/patients/{patient.pk}/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
