"""`/api/v1/care-transitions/`, `/api/v1/medication-events/`, `/api/v1/drug-screens/`: the clinical
records the risk rules read, with the usual conventions (scopes, other clinics' records as 404,
Idempotency-Key, errors naming each bad field, cursor pagination, `updated_since`, upsert by
`external_id`, the access log) and their own: never deleted, corrected by marking them entered in
error, and each write queueing one risk evaluation of the patient."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db.models import Model
from django.utils import timezone
from rest_framework.test import APIClient

from aftercare.models import (
    ActivityKind,
    CareTransition,
    DrugScreen,
    Medication,
    MedicationEvent,
    OutboxKind,
    OutboxMessage,
)
from clinic.auth.scopes import ROLE_SCOPES, SCOPES
from clinic.models import AccessEvent, Clinic, Patient, Role
from tests.aftercare.factories import ActivityFactory, PlanFactory
from tests.conftest import Persona
from tests.factories import PatientFactory


def _today() -> datetime.date:
    return timezone.localdate()


def _day(days_ago: int = 0) -> str:
    return (_today() - datetime.timedelta(days=days_ago)).isoformat()


@dataclass(frozen=True)
class Resource:
    url: str
    read: str
    write: str
    model: type[Model]
    day_field: str
    body: Callable[..., dict[str, Any]]
    patch: dict[str, Any]
    range_filters: tuple[str, str]


def _transition(patient: Patient, days_ago: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "patient": str(patient.pk),
        "direction": "entered_aftercare",
        "level_of_care": "residential",
        "occurred_on": _day(days_ago),
        **extra,
    }


def _event(patient: Patient, days_ago: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "patient": str(patient.pk),
        "medication": "methadone",
        "kind": "dose_observed",
        "occurred_on": _day(days_ago),
        **extra,
    }


def _screen(patient: Patient, days_ago: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "patient": str(patient.pk),
        "collected_on": _day(days_ago),
        "analyte_results": [{"analyte": "fentanyl", "result": "negative"}],
        **extra,
    }


RESOURCES = {
    "care-transitions": Resource(
        "/api/v1/care-transitions/",
        "transitions:read",
        "transitions:write",
        CareTransition,
        "occurred_on",
        _transition,
        {"level_of_care": "inpatient"},
        ("occurred_after", "occurred_before"),
    ),
    "medication-events": Resource(
        "/api/v1/medication-events/",
        "medication:read",
        "medication:write",
        MedicationEvent,
        "occurred_on",
        _event,
        {"dose_mg": "80.00"},
        ("occurred_after", "occurred_before"),
    ),
    "drug-screens": Resource(
        "/api/v1/drug-screens/",
        "screens:read",
        "screens:write",
        DrugScreen,
        "collected_on",
        _screen,
        {"panel": "12-panel + fentanyl"},
        ("collected_after", "collected_before"),
    ),
}
NAMES = list(RESOURCES)


def _attrs(response: Any) -> set[str]:
    assert response.status_code == 400, response.content
    return {error["attr"] for error in response.json()["errors"]}


def _evaluations(patient: Patient) -> int:
    return sum(
        str(patient.pk) in message.payload["patient_ids"]
        for message in OutboxMessage.objects.filter(kind=OutboxKind.RISK_EVALUATE)
    )


# -- create, read, list, correct ----------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_an_ehr_records_reads_corrects_and_marks_a_record_entered_in_error(ehr_a: Persona, name: str) -> None:
    resource = RESOURCES[name]
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    created = ehr_a.api.post(resource.url, resource.body(patient), format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert created["Location"] == f"{resource.url}{body['id']}/"
    assert (body["recorded_by"], body["recorded_by_client"]) == (None, str(ehr_a.client.pk))  # type: ignore[union-attr]
    assert body["entered_in_error"] is False
    assert ehr_a.api.get(f"{resource.url}{body['id']}/").json() == body

    patched = ehr_a.api.patch(f"{resource.url}{body['id']}/", resource.patch, format="json")
    assert patched.status_code == 200, patched.content
    assert {key: patched.json()[key] for key in resource.patch} == resource.patch

    marked = ehr_a.api.post(
        f"{resource.url}{body['id']}/entered-in-error/", {"reason": "Wrong patient chart."}, format="json"
    )
    assert marked.status_code == 200, marked.content
    assert (marked.json()["entered_in_error"], marked.json()["entered_in_error_reason"]) == (
        True,
        "Wrong patient chart.",
    )
    assert marked.json()["entered_in_error_at"] is not None
    # Final: no change, no second marking; the record stays.
    assert ehr_a.api.patch(f"{resource.url}{body['id']}/", resource.patch, format="json").status_code == 409
    again = ehr_a.api.post(f"{resource.url}{body['id']}/entered-in-error/", {"reason": "Again."}, format="json")
    assert again.status_code == 409
    assert ehr_a.api.delete(f"{resource.url}{body['id']}/").status_code == 405
    assert resource.model._default_manager.filter(pk=body["id"]).exists()
    record = resource.model._default_manager.get(pk=body["id"])
    assert record.history.count() == 3  # type: ignore[attr-defined]  # insert, correction, marking


@pytest.mark.parametrize("name", NAMES)
def test_marking_needs_a_reason(ehr_a: Persona, name: str) -> None:
    resource = RESOURCES[name]
    created = ehr_a.api.post(resource.url, resource.body(PatientFactory.create(clinic=ehr_a.clinic)), format="json")
    url = f"{resource.url}{created.json()['id']}/entered-in-error/"
    assert _attrs(ehr_a.api.post(url, {}, format="json")) == {"reason"}
    assert _attrs(ehr_a.api.post(url, {"reason": "   "}, format="json")) == {"reason"}
    assert resource.model._default_manager.get().entered_in_error is False  # type: ignore[attr-defined]


def test_a_clinician_records_in_their_own_name(clinician_a: Persona) -> None:
    patient = PatientFactory.create(clinic=clinician_a.clinic)
    for resource in RESOURCES.values():
        response = clinician_a.api.post(resource.url, resource.body(patient), format="json")
        assert response.status_code == 201, response.content
        assert (response.json()["recorded_by"], response.json()["recorded_by_client"]) == (
            str(clinician_a.user.pk),  # type: ignore[union-attr]
            None,
        )


@pytest.mark.parametrize("name", NAMES)
def test_the_list_filters_by_patient_day_range_error_and_updated_since_and_pages_by_cursor(
    ehr_a: Persona, name: str
) -> None:
    resource = RESOURCES[name]
    first, second = PatientFactory.create_batch(2, clinic=ehr_a.clinic)
    old = ehr_a.api.post(resource.url, resource.body(first, days_ago=40), format="json").json()["id"]
    recent = ehr_a.api.post(resource.url, resource.body(first, days_ago=2), format="json").json()["id"]
    other = ehr_a.api.post(resource.url, resource.body(second, days_ago=2), format="json").json()["id"]
    ehr_a.api.post(f"{resource.url}{other}/entered-in-error/", {"reason": "Duplicate."}, format="json")

    def ids(**query: Any) -> set[str]:
        response = ehr_a.api.get(resource.url, query)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    after, before = resource.range_filters
    assert ids(patient=str(first.pk)) == {old, recent}
    assert ids(**{after: _day(10)}) == {recent, other}
    assert ids(**{before: _day(10)}) == {old}
    assert ids(entered_in_error="false") == {old, recent}
    assert ids(entered_in_error="true") == {other}
    assert ids(updated_since=(timezone.now() + datetime.timedelta(minutes=1)).isoformat()) == set()
    page = ehr_a.api.get(resource.url, {"page_size": 2}).json()
    assert len(page["results"]) == 2
    assert page["next"]
    rest = APIClient()
    rest.credentials(HTTP_AUTHORIZATION=ehr_a.api._credentials["HTTP_AUTHORIZATION"])  # type: ignore[attr-defined]
    more = rest.get(page["next"]).json()["results"]
    assert {row["id"] for row in page["results"] + more} == {old, recent, other}
    assert _attrs(ehr_a.api.get(resource.url, {after: "last week"})) == {after}
    assert _attrs(ehr_a.api.get(resource.url, {"updated_since": "yesterday"})) == {"updated_since"}


# -- upsert by external_id and idempotency ------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_put_by_external_id_creates_then_replaces_never_duplicates(ehr_a: Persona, name: str) -> None:
    resource = RESOURCES[name]
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    url = f"{resource.url}?external_id=SRC-1"
    created = ehr_a.api.put(url, resource.body(patient, notes="First"), format="json")
    assert created.status_code == 201, created.content
    assert created.json()["external_id"] == "SRC-1"
    replaced = ehr_a.api.put(url, resource.body(patient, days_ago=3), format="json")
    assert replaced.status_code == 200, replaced.content
    assert replaced.json()["id"] == created.json()["id"]
    assert replaced.json()["notes"] == ""  # a replacement, not a merge
    assert replaced.json()[resource.day_field] == _day(3)
    assert resource.model._default_manager.count() == 1
    # A POST with a known external_id is refused by name; PUT is the upsert.
    assert _attrs(ehr_a.api.post(resource.url, resource.body(patient, external_id="SRC-1"), format="json")) == {
        "external_id"
    }
    assert _attrs(ehr_a.api.put(resource.url, resource.body(patient), format="json")) == {"external_id"}
    mismatch = resource.body(patient, external_id="SRC-2")
    assert _attrs(ehr_a.api.put(url, mismatch, format="json")) == {"external_id"}
    other = PatientFactory.create(clinic=ehr_a.clinic)
    assert _attrs(ehr_a.api.put(url, resource.body(other), format="json")) == {"patient"}


@pytest.mark.parametrize("name", NAMES)
def test_a_record_entered_in_error_is_not_brought_back_by_its_source_system(ehr_a: Persona, name: str) -> None:
    """A source system that sends the record again by its id after staff marked it entered in error
    gets a 409: a periodic sync must not bring back, or change, what a correction took out."""
    resource = RESOURCES[name]
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    url = f"{resource.url}?external_id=SRC-5"
    created = ehr_a.api.put(url, resource.body(patient), format="json").json()["id"]
    marked = ehr_a.api.post(
        f"{resource.url}{created}/entered-in-error/",
        {"reason": "Wrong chart."},
        format="json",
        HTTP_IDEMPOTENCY_KEY="e-1",
    )
    replayed = ehr_a.api.post(
        f"{resource.url}{created}/entered-in-error/",
        {"reason": "Wrong chart."},
        format="json",
        HTTP_IDEMPOTENCY_KEY="e-1",
    )
    assert marked.status_code == replayed.status_code == 200
    assert replayed["Idempotent-Replayed"] == "true"
    again = ehr_a.api.put(url, resource.body(patient), format="json")
    assert again.status_code == 409
    assert {error["attr"] for error in again.json()["errors"]} == {"entered_in_error"}
    assert resource.model._default_manager.count() == 1


@pytest.mark.parametrize("name", NAMES)
def test_the_same_external_id_in_another_clinic_is_another_record(ehr_a: Persona, ehr_b: Persona, name: str) -> None:
    resource = RESOURCES[name]
    theirs = ehr_b.api.put(
        f"{resource.url}?external_id=SRC-9", resource.body(PatientFactory.create(clinic=ehr_b.clinic)), format="json"
    )
    mine = ehr_a.api.put(
        f"{resource.url}?external_id=SRC-9", resource.body(PatientFactory.create(clinic=ehr_a.clinic)), format="json"
    )
    assert theirs.status_code == mine.status_code == 201
    assert theirs.json()["id"] != mine.json()["id"]


@pytest.mark.parametrize("name", NAMES)
def test_the_same_idempotency_key_replays_the_first_answer(ehr_a: Persona, name: str) -> None:
    resource = RESOURCES[name]
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    first = ehr_a.api.post(resource.url, resource.body(patient), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = ehr_a.api.post(resource.url, resource.body(patient), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    changed = ehr_a.api.post(
        resource.url, resource.body(patient, days_ago=2), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert changed.status_code == 422
    assert resource.model._default_manager.count() == 1
    assert _evaluations(patient) == 1


# -- risk evaluation ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_each_write_queues_one_risk_evaluation_of_its_patient(ehr_a: Persona, name: str) -> None:
    resource = RESOURCES[name]
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    bystander = PatientFactory.create(clinic=ehr_a.clinic)
    created = ehr_a.api.post(resource.url, resource.body(patient), format="json").json()["id"]
    assert _evaluations(patient) == 1
    ehr_a.api.patch(f"{resource.url}{created}/", resource.patch, format="json")
    assert _evaluations(patient) == 2
    ehr_a.api.post(f"{resource.url}{created}/entered-in-error/", {"reason": "Duplicate."}, format="json")
    assert _evaluations(patient) == 3
    assert _evaluations(bystander) == 0
    # A refused write queues nothing.
    ehr_a.api.post(resource.url, resource.body(patient, days_ago=-3), format="json")
    assert _evaluations(patient) == 3


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_a_future_day_or_another_clinics_patient_is_a_400_naming_the_field(
    ehr_a: Persona, ehr_b: Persona, name: str
) -> None:
    resource = RESOURCES[name]
    mine = PatientFactory.create(clinic=ehr_a.clinic)
    theirs = PatientFactory.create(clinic=ehr_b.clinic)
    assert _attrs(ehr_a.api.post(resource.url, resource.body(mine, days_ago=-1), format="json")) == {resource.day_field}
    assert _attrs(ehr_a.api.post(resource.url, resource.body(theirs), format="json")) == {"patient"}
    assert _attrs(ehr_a.api.post(resource.url, resource.body(mine, notes=42), format="json")) == {"notes"}
    assert _attrs(ehr_a.api.post(resource.url, resource.body(mine, external_id="x" * 65), format="json")) == {
        "external_id"
    }
    assert not resource.model._default_manager.exists()
    assert not OutboxMessage.objects.exists()


@pytest.mark.parametrize(
    ("extra", "attr"),
    [
        ({"kind": "take_home_dispensed"}, "days_covered"),
        ({"kind": "take_home_dispensed", "days_covered": 91}, "days_covered"),
        ({"kind": "take_home_dispensed", "days_covered": 0}, "days_covered"),
        ({"kind": "dose_observed", "days_covered": 7}, "days_covered"),
        ({"kind": "injection_given", "medication": "methadone"}, "kind"),
        ({"kind": "injection_given", "medication": "buprenorphine"}, "kind"),
        ({"medication": "heroin"}, "medication"),
        ({"dose_mg": "0"}, "dose_mg"),
        ({"dose_mg": "-5"}, "dose_mg"),
    ],
)
def test_a_bad_medication_event_is_a_400_naming_the_field_and_saves_nothing(
    ehr_a: Persona, extra: dict[str, Any], attr: str
) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    assert _attrs(ehr_a.api.post("/api/v1/medication-events/", _event(patient, **extra), format="json")) == {attr}
    assert not MedicationEvent.objects.exists()


def test_a_take_home_supply_and_a_naltrexone_injection_are_recorded(ehr_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    url = "/api/v1/medication-events/"
    take_home = ehr_a.api.post(url, _event(patient, kind="take_home_dispensed", days_covered=6), format="json")
    assert take_home.status_code == 201, take_home.content
    assert take_home.json()["days_covered"] == 6
    injection = ehr_a.api.post(url, _event(patient, kind="injection_given", medication="naltrexone"), format="json")
    assert injection.status_code == 201, injection.content
    # A PATCH that would make the take-home anything else must drop days_covered with it.
    assert _attrs(ehr_a.api.patch(f"{url}{take_home.json()['id']}/", {"kind": "dose_observed"}, format="json")) == {
        "days_covered"
    }
    fixed = ehr_a.api.patch(
        f"{url}{take_home.json()['id']}/", {"kind": "dose_observed", "days_covered": None}, format="json"
    )
    assert fixed.status_code == 200, fixed.content


def test_one_event_per_patient_medication_kind_and_day_unless_the_first_was_entered_in_error(ehr_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    url = "/api/v1/medication-events/"
    first = ehr_a.api.post(url, _event(patient), format="json").json()["id"]
    assert _attrs(ehr_a.api.post(url, _event(patient), format="json")) == {"occurred_on"}
    # Another kind, medication or day is another event.
    assert ehr_a.api.post(url, _event(patient, kind="dose_missed"), format="json").status_code == 201
    assert ehr_a.api.post(url, _event(patient, days_ago=2), format="json").status_code == 201
    ehr_a.api.post(f"{url}{first}/entered-in-error/", {"reason": "Recorded twice."}, format="json")
    assert ehr_a.api.post(url, _event(patient), format="json").status_code == 201
    assert MedicationEvent.objects.filter(patient=patient).count() == 4


@pytest.mark.parametrize(
    ("results", "attr"),
    [
        (
            [{"analyte": "fentanyl", "result": "negative"}, {"analyte": "fentanyl", "result": "positive"}],
            "analyte_results",
        ),
        ([{"analyte": "kratom", "result": "negative"}], "analyte_results"),
        ([{"analyte": "fentanyl", "result": "maybe"}], "analyte_results"),
        ([{"analyte": "fentanyl"}], "analyte_results"),
    ],
)
def test_a_bad_drug_screen_is_a_400_naming_the_field_and_saves_nothing(
    ehr_a: Persona, results: list[dict[str, Any]], attr: str
) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    response = ehr_a.api.post("/api/v1/drug-screens/", _screen(patient, analyte_results=results), format="json")
    assert response.status_code == 400, response.content
    assert {error["attr"].split(".")[0] for error in response.json()["errors"]} == {attr}
    assert not DrugScreen.objects.exists()


def test_a_care_transition_of_unknown_direction_or_level_is_refused_by_name(ehr_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    url = "/api/v1/care-transitions/"
    assert _attrs(ehr_a.api.post(url, _transition(patient, direction="sideways"), format="json")) == {"direction"}
    assert _attrs(ehr_a.api.post(url, _transition(patient, level_of_care="spa"), format="json")) == {"level_of_care"}
    assert _attrs(ehr_a.api.post(url, _transition(patient, source="Line\nbreak"), format="json")) == {"source"}
    assert not CareTransition.objects.exists()


# -- expected results ---------------------------------------------------------------------------


def _on(clinic: Clinic, medication: str) -> Patient:
    plan = PlanFactory.create(patient=PatientFactory.create(clinic=clinic))
    ActivityFactory.create(plan=plan, kind=ActivityKind.MEDICATION, medication=medication)
    return plan.patient


def _expected(ehr: Persona, patient: Patient, results: list[dict[str, Any]]) -> dict[str, tuple[bool, bool]]:
    response = ehr.api.post("/api/v1/drug-screens/", _screen(patient, analyte_results=results), format="json")
    assert response.status_code == 201, response.content
    return {row["analyte"]: (row["expected"], row["expected_stated"]) for row in response.json()["analyte_results"]}


ALL_NEGATIVE = [
    {"analyte": "methadone", "result": "negative"},
    {"analyte": "buprenorphine", "result": "negative"},
    {"analyte": "fentanyl", "result": "negative"},
]
ALL_POSITIVE = [{**row, "result": "positive"} for row in ALL_NEGATIVE]


def test_expected_results_for_a_methadone_patient(ehr_a: Persona) -> None:
    patient = _on(ehr_a.clinic, Medication.METHADONE)
    negative = _expected(ehr_a, patient, ALL_NEGATIVE)
    assert negative == {"methadone": (False, False), "buprenorphine": (True, False), "fentanyl": (True, False)}
    positive = _expected(ehr_a, patient, ALL_POSITIVE)
    assert positive == {"methadone": (True, False), "buprenorphine": (False, False), "fentanyl": (False, False)}


def test_expected_results_for_a_buprenorphine_patient(ehr_a: Persona) -> None:
    patient = _on(ehr_a.clinic, Medication.BUPRENORPHINE)
    negative = _expected(ehr_a, patient, ALL_NEGATIVE)
    assert negative == {"methadone": (True, False), "buprenorphine": (False, False), "fentanyl": (True, False)}
    positive = _expected(ehr_a, patient, ALL_POSITIVE)
    assert positive == {"methadone": (False, False), "buprenorphine": (True, False), "fentanyl": (False, False)}


def test_expected_results_without_mat_and_with_a_plan_that_is_not_active(ehr_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    assert _expected(ehr_a, patient, ALL_POSITIVE) == dict.fromkeys(
        ("methadone", "buprenorphine", "fentanyl"), (False, False)
    )
    draft = PlanFactory.create(patient=PatientFactory.create(clinic=ehr_a.clinic), status="draft")
    ActivityFactory.create(plan=draft, kind=ActivityKind.MEDICATION, medication=Medication.METHADONE)
    assert _expected(ehr_a, draft.patient, [{"analyte": "methadone", "result": "positive"}]) == {
        "methadone": (False, False)
    }
    assert _expected(ehr_a, patient, [{"analyte": "alcohol", "result": "invalid"}]) == {"alcohol": (False, False)}


def test_a_caller_may_state_expected_for_a_prescribed_medication(ehr_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    stated = _expected(
        ehr_a,
        patient,
        [
            {"analyte": "benzodiazepines", "result": "positive", "expected": True},
            {"analyte": "cocaine", "result": "positive", "expected": None},
        ],
    )
    assert stated == {"benzodiazepines": (True, True), "cocaine": (False, False)}


def test_a_patch_replaces_the_results_and_works_expected_out_again(ehr_a: Persona) -> None:
    patient = _on(ehr_a.clinic, Medication.METHADONE)
    url = "/api/v1/drug-screens/"
    screen = ehr_a.api.post(url, _screen(patient, analyte_results=ALL_NEGATIVE), format="json").json()
    patched = ehr_a.api.patch(
        f"{url}{screen['id']}/", {"analyte_results": [{"analyte": "methadone", "result": "positive"}]}, format="json"
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["analyte_results"] == [
        {"analyte": "methadone", "result": "positive", "expected": True, "expected_stated": False}
    ]
    assert patched.json()["updated_at"] > screen["updated_at"]


# -- other clinics, scopes and roles ------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_every_route_answers_404_for_another_clinics_record(ehr_a: Persona, ehr_b: Persona, name: str) -> None:
    resource = RESOURCES[name]
    theirs = ehr_b.api.post(resource.url, resource.body(PatientFactory.create(clinic=ehr_b.clinic)), format="json")
    detail = f"{resource.url}{theirs.json()['id']}/"
    assert ehr_a.api.get(detail).status_code == 404
    assert ehr_a.api.patch(detail, resource.patch, format="json").status_code == 404
    assert ehr_a.api.post(f"{detail}entered-in-error/", {"reason": "Not ours."}, format="json").status_code == 404
    assert ehr_a.api.options(detail).status_code == 404
    assert ehr_a.api.get(resource.url).json()["results"] == []
    assert ehr_a.api.get(resource.url, {"patient": theirs.json()["patient"]}).json()["results"] == []
    assert resource.model._default_manager.get().entered_in_error is False  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", NAMES)
def test_every_route_needs_its_scope(ehr_a: Persona, make_client: Any, name: str) -> None:
    resource = RESOURCES[name]
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    record = ehr_a.api.post(resource.url, resource.body(patient), format="json").json()["id"]
    detail = f"{resource.url}{record}/"
    no_read = make_client(ehr_a.clinic, [s for s in SCOPES if s != resource.read])
    no_write = make_client(ehr_a.clinic, [s for s in SCOPES if s != resource.write])
    assert no_read.api.get(resource.url).status_code == 403
    assert no_read.api.get(detail).status_code == 403
    for response in (
        no_write.api.post(resource.url, resource.body(patient, days_ago=5), format="json"),
        no_write.api.put(f"{resource.url}?external_id=X", resource.body(patient, days_ago=5), format="json"),
        no_write.api.patch(detail, resource.patch, format="json"),
        no_write.api.post(f"{detail}entered-in-error/", {"reason": "No."}, format="json"),
    ):
        assert response.status_code == 403
        assert resource.write in response.json()["errors"][0]["detail"]
    assert resource.model._default_manager.count() == 1
    only_read = make_client(ehr_a.clinic, [resource.read])
    assert only_read.api.get(resource.url).status_code == 200
    assert only_read.api.get(detail).status_code == 200


@pytest.mark.parametrize("name", NAMES)
def test_care_staff_write_the_auditor_reads_front_desk_neither(clinic_a: Clinic, make_staff: Any, name: str) -> None:
    resource = RESOURCES[name]
    for role in (Role.ADMIN, Role.CLINICIAN, Role.CASE_MANAGER):
        assert {resource.read, resource.write} <= ROLE_SCOPES[role]
    assert resource.read in ROLE_SCOPES[Role.AUDITOR]
    assert resource.write not in ROLE_SCOPES[Role.AUDITOR]
    assert not {resource.read, resource.write} & ROLE_SCOPES[Role.FRONT_DESK]
    patient = PatientFactory.create(clinic=clinic_a)
    made = []
    for days_ago, role in enumerate((Role.CLINICIAN, Role.CASE_MANAGER, Role.ADMIN), start=1):
        response = make_staff(clinic_a, role).api.post(resource.url, resource.body(patient, days_ago), format="json")
        assert response.status_code == 201, (role, response.content)
        made.append(response.json()["id"])
    detail = f"{resource.url}{made[0]}/"
    auditor = make_staff(clinic_a, Role.AUDITOR)
    assert auditor.api.get(resource.url).status_code == 200
    assert auditor.api.get(detail).status_code == 200
    assert auditor.api.post(resource.url, resource.body(patient, 9), format="json").status_code == 403
    assert auditor.api.patch(detail, resource.patch, format="json").status_code == 403
    assert auditor.api.post(f"{detail}entered-in-error/", {"reason": "x"}, format="json").status_code == 403
    front_desk = make_staff(clinic_a, Role.FRONT_DESK)
    assert front_desk.api.get(resource.url).status_code == 403
    assert front_desk.api.get(detail).status_code == 403
    assert front_desk.api.post(resource.url, resource.body(patient, 9), format="json").status_code == 403
    assert (
        front_desk.api.put(f"{resource.url}?external_id=F", resource.body(patient, 9), format="json").status_code == 403
    )
    assert front_desk.api.patch(detail, resource.patch, format="json").status_code == 403
    assert front_desk.api.post(f"{detail}entered-in-error/", {"reason": "x"}, format="json").status_code == 403
    assert resource.model._default_manager.count() == 3


# -- access log and schema ----------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_reads_and_writes_are_in_the_access_log(ehr_a: Persona, name: str) -> None:
    resource = RESOURCES[name]
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    created = ehr_a.api.post(resource.url, resource.body(patient), format="json").json()["id"]
    assert ehr_a.api.get(resource.url).status_code == 200
    assert ehr_a.api.get(f"{resource.url}{created}/").status_code == 200
    basename = name[:-1]
    write, listed, viewed = AccessEvent.objects.filter(object_type=basename).order_by("at")
    assert (write.action, [str(i) for i in write.object_ids], write.patient_ids) == ("create", [created], [patient.pk])
    assert (listed.action, listed.patient_ids) == ("list", [patient.pk])
    assert (viewed.action, viewed.patient_ids) == ("view", [patient.pk])


def test_options_on_a_collection_that_takes_put_describes_it(ehr_a: Persona) -> None:
    for url in ("/api/v1/patients/", *(resource.url for resource in RESOURCES.values())):
        response = ehr_a.api.options(url)
        assert response.status_code == 200, (url, response.content)
        assert "POST" in response.json()["actions"]


def test_the_schema_documents_each_resource_its_scopes_and_its_errors(db: None) -> None:
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for resource in RESOURCES.values():
        path = schema["paths"][resource.url]
        assert path["get"]["security"][0] == {"oauth2": [resource.read]}
        assert path["post"]["security"][0] == {"oauth2": [resource.write]}
        assert path["put"]["security"][0] == {"oauth2": [resource.write]}
        assert "Idempotency-Key" in {p["name"] for p in path["post"]["parameters"]}
        assert "external_id" in {p["name"] for p in path["put"]["parameters"]}
        listed = {p["name"] for p in path["get"]["parameters"]}
        assert {
            "cursor",
            "page_size",
            "patient",
            "updated_since",
            "entered_in_error",
            *resource.range_filters,
        } <= listed
        assert {"201", "400", "403", "422"} <= set(path["post"]["responses"])
        detail = schema["paths"][f"{resource.url}{{id}}/"]
        assert set(detail) >= {"get", "patch"}
        assert "delete" not in detail
        assert "409" in detail["patch"]["responses"]
        assert "post" in schema["paths"][f"{resource.url}{{id}}/entered-in-error/"]
