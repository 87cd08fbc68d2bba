"""`/api/v1/patients/`: registry CRUD, tenancy, scopes and roles, validation, query discipline."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinic.models import Patient, PatientStatus, Role
from tests.conftest import Persona
from tests.factories import PatientFactory

LIST = "/api/v1/patients/"


def detail(patient: Patient | str) -> str:
    return f"/api/v1/patients/{getattr(patient, 'pk', patient)}/"


def new_patient(**overrides: Any) -> dict[str, Any]:
    body = {
        "external_id": "MRN-100",
        "given_name": "Ana",
        "family_name": "Rivera",
        "date_of_birth": "1988-04-02",
        "email": "ana.rivera@example.org",
        "phone": "+1 312-555-0111",
        "preferred_language": "es",
        "reminders_opt_in": True,
        "intake_date": "2026-10-01",
    }
    body.update(overrides)
    return body


def error_attrs(response: Any) -> set[str | None]:
    return {error["attr"] for error in response.json()["errors"]}


# --- the basic life of a record -------------------------------------------------------------


def test_a_client_creates_reads_updates_and_lists_a_patient(ehr_a: Persona) -> None:
    created = ehr_a.api.post(LIST, new_patient())
    assert created.status_code == 201, created.json()
    patient_id = created.json()["id"]
    assert created["Location"] == detail(patient_id)
    assert created.json()["status"] == "active"

    read = ehr_a.api.get(detail(patient_id))
    assert read.status_code == 200
    assert read.json()["family_name"] == "Rivera"

    patched = ehr_a.api.patch(detail(patient_id), {"phone": "+1 312-555-0123"})
    assert patched.status_code == 200
    assert patched.json()["phone"] == "+1 312-555-0123"
    assert Patient.objects.get(pk=patient_id).phone == "+1 312-555-0123"

    replaced = ehr_a.api.put(detail(patient_id), new_patient(given_name="Ana María"))
    assert replaced.status_code == 200
    assert replaced.json()["given_name"] == "Ana María"

    listed = ehr_a.api.get(LIST)
    assert [row["id"] for row in listed.json()["results"]] == [patient_id]


def test_discharging_a_patient_needs_a_discharge_date(ehr_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    response = ehr_a.api.patch(detail(patient), {"status": "discharged"})
    assert response.status_code == 400
    assert error_attrs(response) == {"discharge_date"}
    ok = ehr_a.api.patch(detail(patient), {"status": "discharged", "discharge_date": str(timezone.localdate())})
    assert ok.status_code == 200
    assert Patient.objects.get(pk=patient.pk).status == PatientStatus.DISCHARGED


def test_a_patient_cannot_be_deleted_through_the_api(ehr_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    assert ehr_a.api.delete(detail(patient)).status_code == 405
    assert Patient.objects.filter(pk=patient.pk).exists()


# --- tenancy --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "put", "patch"])
def test_another_clinics_patient_is_not_found(ehr_a: Persona, ehr_b: Persona, method: str) -> None:
    theirs = PatientFactory.create(clinic=ehr_b.clinic, given_name="Bea")
    response = getattr(ehr_a.api, method)(detail(theirs), new_patient())
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"
    theirs.refresh_from_db()
    assert theirs.given_name == "Bea"


def test_a_list_shows_only_the_callers_clinic(ehr_a: Persona, ehr_b: Persona) -> None:
    mine = PatientFactory.create(clinic=ehr_a.clinic)
    PatientFactory.create(clinic=ehr_b.clinic, external_id=mine.external_id)
    rows = ehr_a.api.get(LIST).json()["results"]
    assert [row["id"] for row in rows] == [str(mine.pk)]
    assert ehr_a.api.get(LIST, {"external_id": str(mine.external_id)}).json()["results"][0]["id"] == str(mine.pk)


def test_a_staff_member_sees_only_their_clinic(clinician_a: Persona, clinician_b: Persona) -> None:
    theirs = PatientFactory.create(clinic=clinician_b.clinic)
    assert clinician_a.api.get(detail(theirs)).status_code == 404
    assert clinician_b.api.get(detail(theirs)).status_code == 200


def test_a_body_cannot_move_a_patient_to_another_clinic(ehr_a: Persona, ehr_b: Persona) -> None:
    refused = ehr_a.api.post(LIST, {**new_patient(), "clinic": str(ehr_b.clinic.pk)})
    assert refused.status_code == 400
    assert [(e["attr"], e["code"]) for e in refused.json()["errors"]] == [("clinic", "unknown_field")]
    assert not Patient.objects.exists()
    # A read-only `id` (as if read back) is ignored: the server names the new patient.
    sent_id = str(uuid.uuid4())
    response = ehr_a.api.post(LIST, {**new_patient(), "id": sent_id})
    assert response.status_code == 201
    patient = Patient.objects.get(pk=response.json()["id"])
    assert (patient.clinic, str(patient.pk) != sent_id) == (ehr_a.clinic, True)


def test_assigning_another_clinics_clinician_is_rejected_naming_the_field(
    ehr_a: Persona, clinician_a: Persona, clinician_b: Persona
) -> None:
    rejected = ehr_a.api.post(LIST, new_patient(assigned_clinician=str(clinician_b.user.pk)))  # type: ignore[union-attr]
    assert rejected.status_code == 400
    assert error_attrs(rejected) == {"assigned_clinician"}
    accepted = ehr_a.api.post(LIST, new_patient(assigned_clinician=str(clinician_a.user.pk)))  # type: ignore[union-attr]
    assert accepted.status_code == 201


def test_a_user_of_several_clinics_names_the_clinic_in_a_header(
    clinician_a: Persona, clinic_b: Any, make_staff: Any
) -> None:
    from tests.factories import MembershipFactory

    MembershipFactory.create(user=clinician_a.user, clinic=clinic_b, role=Role.FRONT_DESK)
    theirs = PatientFactory.create(clinic=clinic_b)
    ambiguous = clinician_a.api.get(LIST)
    assert ambiguous.status_code == 400
    assert error_attrs(ambiguous) == {"X-Clinic"}
    assert clinician_a.api.get(detail(theirs), HTTP_X_CLINIC="clinic-b").status_code == 200
    assert clinician_a.api.get(detail(theirs), HTTP_X_CLINIC="clinic-a").status_code == 404
    # Front desk at clinic B: no patients:write there.
    assert clinician_a.api.patch(detail(theirs), {"phone": "555 0100 22"}, HTTP_X_CLINIC="clinic-b").status_code == 403
    assert clinician_a.api.get(LIST, HTTP_X_CLINIC="no-such-clinic").status_code == 403


# --- scopes and roles -----------------------------------------------------------------------


def test_a_client_without_patients_write_cannot_write(clinic_a: Any, make_client: Any) -> None:
    reader = make_client(clinic_a, ["patients:read"])
    patient = PatientFactory.create(clinic=clinic_a)
    assert reader.api.get(detail(patient)).status_code == 200
    for response in (
        reader.api.post(LIST, new_patient()),
        reader.api.put(detail(patient), new_patient()),
        reader.api.patch(detail(patient), {"phone": "555 0100 22"}),
        reader.api.put(f"{LIST}?external_id=MRN-9", new_patient()),
    ):
        assert response.status_code == 403
        assert "patients:write" in response.json()["errors"][0]["detail"]
    assert Patient.objects.count() == 1


def test_a_client_without_patients_read_cannot_read(clinic_a: Any, make_client: Any) -> None:
    scheduler = make_client(clinic_a, ["schedule:read", "patients:write"])
    patient = PatientFactory.create(clinic=clinic_a)
    assert scheduler.api.get(LIST).status_code == 403
    assert scheduler.api.get(detail(patient)).status_code == 403


def test_a_token_never_grants_more_than_its_client_now_holds(clinic_a: Any, make_client: Any) -> None:
    ehr = make_client(clinic_a, ["patients:read", "patients:write"])
    ehr.client.scopes = ["patients:read"]
    ehr.client.save()
    assert ehr.api.post(LIST, new_patient()).status_code == 403
    assert ehr.api.get(LIST).status_code == 200


@pytest.mark.parametrize(
    ("role", "can_write"),
    [
        (Role.ADMIN, True),
        (Role.CLINICIAN, True),
        (Role.CASE_MANAGER, True),
        (Role.FRONT_DESK, False),
        (Role.AUDITOR, False),
    ],
)
def test_every_role_reads_the_registry_and_only_care_roles_write_it(
    clinic_a: Any, make_staff: Any, role: str, can_write: bool
) -> None:
    staff = make_staff(clinic_a, role)
    patient = PatientFactory.create(clinic=clinic_a)
    assert staff.api.get(detail(patient)).status_code == 200
    assert staff.api.patch(detail(patient), {"phone": "555 0100 22"}).status_code == (200 if can_write else 403)
    assert staff.api.post(LIST, new_patient()).status_code == (201 if can_write else 403)


def test_a_staff_member_of_no_clinic_is_refused(db: None) -> None:
    from rest_framework.test import APIClient

    from tests.factories import UserFactory, verified_login

    api = APIClient()
    verified_login(api, UserFactory.create())
    assert api.get(LIST).status_code == 403


def test_an_anonymous_caller_gets_401_with_a_bearer_challenge(anonymous: Any, db: None) -> None:
    response = anonymous.get(LIST)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["errors"][0]["code"] == "not_authenticated"


# --- validation: 400 naming each field, nothing written --------------------------------------


def test_malformed_json_is_a_400_parse_error(ehr_a: Persona) -> None:
    response = ehr_a.api.generic("POST", LIST, '{"given_name": "Ana",', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "parse_error"
    assert Patient.objects.count() == 0


def test_a_body_that_is_not_an_object_is_a_400(ehr_a: Persona) -> None:
    response = ehr_a.api.generic("POST", LIST, '["a", "list"]', content_type="application/json")
    assert response.status_code == 400
    assert Patient.objects.count() == 0


def test_form_encoded_bodies_are_refused_with_415(ehr_a: Persona) -> None:
    response = ehr_a.api.post(LIST, "given_name=Ana", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("date_of_birth", "02/04/1988"),
        ("date_of_birth", "1988-02-30"),
        ("date_of_birth", "2999-01-01"),
        ("intake_date", 20261001),
        ("preferred_language", "fr"),
        ("status", "deceased"),
        ("reminders_opt_in", "perhaps"),
        ("email", "not-an-email"),
        ("phone", "call me"),
        ("given_name", ["Ana"]),
        ("given_name", ""),
        ("given_name", "x" * 101),
        ("external_id", "   "),
        ("assigned_clinician", "not-a-uuid"),
        ("assigned_clinician", str(uuid.UUID(int=7))),
        ("discharge_date", "2026-09-01"),
    ],
)
def test_bad_input_gets_400_naming_the_field_and_writes_nothing(ehr_a: Persona, field: str, value: Any) -> None:
    response = ehr_a.api.post(LIST, new_patient(**{field: value}))
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["type"] == "validation_error"
    assert error_attrs(response) == {field}
    assert all(error["detail"] for error in body["errors"])
    assert Patient.objects.count() == 0


def test_missing_required_fields_are_each_named(ehr_a: Persona) -> None:
    response = ehr_a.api.post(LIST, {"email": "someone@example.org"})
    assert response.status_code == 400
    assert error_attrs(response) == {"given_name", "family_name", "date_of_birth", "intake_date"}


def test_a_duplicate_external_id_is_rejected_naming_the_field(ehr_a: Persona) -> None:
    assert ehr_a.api.post(LIST, new_patient()).status_code == 201
    again = ehr_a.api.post(LIST, new_patient(given_name="Other"))
    assert again.status_code == 400
    assert error_attrs(again) == {"external_id"}
    assert Patient.objects.count() == 1


def test_the_same_external_id_may_exist_in_two_clinics(ehr_a: Persona, ehr_b: Persona) -> None:
    assert ehr_a.api.post(LIST, new_patient()).status_code == 201
    assert ehr_b.api.post(LIST, new_patient()).status_code == 201


# --- filters, pagination, query discipline ---------------------------------------------------


def test_lists_filter_by_status_and_external_id(ehr_a: Persona) -> None:
    active = PatientFactory.create(clinic=ehr_a.clinic)
    discharged = PatientFactory.create(
        clinic=ehr_a.clinic, status=PatientStatus.DISCHARGED, discharge_date=timezone.localdate()
    )
    ids = lambda response: {row["id"] for row in response.json()["results"]}  # noqa: E731
    assert ids(ehr_a.api.get(LIST, {"status": "discharged"})) == {str(discharged.pk)}
    assert ids(ehr_a.api.get(f"{LIST}?status=active&status=discharged")) == {str(active.pk), str(discharged.pk)}
    assert ids(ehr_a.api.get(LIST, {"external_id": str(active.external_id)})) == {str(active.pk)}


def test_updated_since_returns_what_changed_including_bulk_updates(ehr_a: Persona) -> None:
    old = PatientFactory.create(clinic=ehr_a.clinic)
    untouched = PatientFactory.create(clinic=ehr_a.clinic)
    Patient.objects.filter(pk__in=[old.pk, untouched.pk]).update(updated_at=timezone.now() - datetime.timedelta(days=2))
    since = (timezone.now() - datetime.timedelta(hours=1)).isoformat()
    assert ehr_a.api.get(LIST, {"updated_since": since}).json()["results"] == []
    # A bulk write that never calls save() still moves updated_at (database trigger).
    Patient.objects.filter(pk=old.pk).update(phone="+1 312-555-0177")
    rows = ehr_a.api.get(LIST, {"updated_since": since}).json()["results"]
    assert [row["id"] for row in rows] == [str(old.pk)]


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("updated_since", "yesterday"),
        ("updated_since", ""),
        ("updated_since", "2026-11-21T10:00:00"),
        ("updated_since", "2026-11-21"),
        ("status", "lost"),
        ("assigned_clinician", "nobody"),
        ("assigned_clinician", ""),
        ("external_id", ""),
        ("status", ""),
        ("page_size", "many"),
        ("page_size", "0"),
        ("page_size", "201"),
    ],
)
def test_bad_filter_values_are_400_naming_the_parameter(ehr_a: Persona, param: str, value: str) -> None:
    response = ehr_a.api.get(LIST, {param: value})
    assert response.status_code == 400
    assert error_attrs(response) == {param}


@pytest.mark.parametrize(
    "instant", ["4877-06-24T02:13:06.197948-20:06", "2026-11-21T10:00:00+15:59", "9999-12-31T23:59:59-01:00"]
)
def test_updated_since_takes_any_rfc3339_offset_without_a_server_error(ehr_a: Persona, instant: str) -> None:
    response = ehr_a.api.get(LIST, {"updated_since": instant})
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert error_attrs(response) == {"updated_since"}


def test_updated_since_compares_instants_across_offsets(ehr_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    Patient.objects.filter(pk=patient.pk).update(updated_at=datetime.datetime(2026, 11, 21, 12, 0, tzinfo=datetime.UTC))
    rows = lambda since: ehr_a.api.get(LIST, {"updated_since": since}).json()["results"]  # noqa: E731
    assert rows("2026-11-21T06:59:00-05:00")  # 11:59 UTC
    assert not rows("2026-11-21T07:01:00-05:00")  # 12:01 UTC


def test_cursor_pagination_walks_every_patient_once(ehr_a: Persona) -> None:
    PatientFactory.create_batch(7, clinic=ehr_a.clinic)
    seen: list[str] = []
    url: str | None = f"{LIST}?page_size=3"
    while url:
        page = ehr_a.api.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert len(seen) == 7 == len(set(seen))


@pytest.mark.parametrize("persona", ["ehr_a", "clinician_a"])
def test_the_list_query_count_does_not_grow_with_the_page(persona: str, request: pytest.FixtureRequest) -> None:
    caller: Persona = request.getfixturevalue(persona)
    PatientFactory.create_batch(60, clinic=caller.clinic)

    def queries(page_size: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = caller.api.get(LIST, {"page_size": page_size})
        assert len(response.json()["results"]) == page_size
        return len(captured)

    assert queries(2) == queries(50)


def test_unknown_api_urls_answer_404_in_the_error_shape(ehr_a: Persona) -> None:
    response = ehr_a.api.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"
    assert ehr_a.api.get(detail("not-a-uuid")).status_code == 404
