"""Strict, predictable requests: a date-time needs its offset, a body holds only fields the
operation takes (read-only echoes aside), text holds no control characters, and dates lie where a
clinic could mean them. Each refusal is a 400 naming the field with a code the schema documents."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from aftercare.models import AftercarePlan, Appointment
from clinic.models import Consent, Patient, Role
from tests.aftercare.factories import PlanFactory, SupportGroupFactory
from tests.conftest import Persona
from tests.factories import PatientFactory

NO_OFFSET = "Needs an offset, e.g. 2027-01-05T09:00:00-05:00."


def errors(response: Any) -> set[tuple[str | None, str]]:
    return {(error["attr"], error["code"]) for error in response.json()["errors"]}


@pytest.fixture
def clinician(ehr_a: Persona, make_staff: Any) -> Any:
    return make_staff(ehr_a.clinic, Role.CLINICIAN).user


@pytest.fixture
def patient(ehr_a: Persona) -> Patient:
    return PatientFactory.create(clinic=ehr_a.clinic, date_of_birth=datetime.date(1980, 5, 17))


def local(days: int, hour: int = 9) -> datetime.datetime:
    """A wall-clock time `days` from today, without an offset."""
    return datetime.datetime.combine(timezone.localdate() + datetime.timedelta(days=days), datetime.time(hour))


def booking(patient: Patient, clinician: Any, starts_at: str, ends_at: str) -> dict[str, Any]:
    return {
        "patient": str(patient.pk),
        "clinician": str(clinician.pk),
        "kind": "individual_therapy",
        "starts_at": starts_at,
        "ends_at": ends_at,
    }


def consent_body(**overrides: Any) -> dict[str, Any]:
    today = timezone.localdate()
    return {
        "recipient_name": "County Probation",
        "purpose": "Report attendance",
        "categories": ["attendance"],
        "signed_on": str(today - datetime.timedelta(days=2)),
        "expires_on": str(today + datetime.timedelta(days=90)),
        **overrides,
    }


# --- date-times carry their offset ------------------------------------------------------------


def test_a_booking_whose_starts_at_has_no_offset_is_400_naming_starts_at(
    ehr_a: Persona, patient: Patient, clinician: Any
) -> None:
    body = booking(patient, clinician, "2027-01-05T09:00:00", "2027-01-05T10:00:00-05:00")
    response = ehr_a.api.post("/api/v1/appointments/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [{"code": "no_offset", "detail": NO_OFFSET, "attr": "starts_at"}]
    assert not Appointment.objects.exists()


@pytest.mark.parametrize("offset", ["Z", "+00:00", "-05:00", "+05:30"])
def test_a_date_time_with_any_offset_is_the_instant_it_names(
    ehr_a: Persona, patient: Patient, clinician: Any, offset: str
) -> None:
    start = local(3).isoformat() + offset
    end = (local(3) + datetime.timedelta(hours=1)).isoformat() + offset
    response = ehr_a.api.post("/api/v1/appointments/", booking(patient, clinician, start, end), format="json")
    assert response.status_code == 201, response.json()
    expected = datetime.datetime.fromisoformat(start.replace("Z", "+00:00"))
    assert Appointment.objects.get().starts_at == expected


def _group_session(persona: Persona, **_: Any) -> tuple[str, str, dict[str, Any]]:
    group = SupportGroupFactory.create(clinic=persona.clinic)
    start = local(2)
    body = {"group": str(group.pk), "starts_at": start.isoformat() + "Z", "ends_at": start.isoformat()}
    return "post", "/api/v1/group-sessions/", body


def _outreach(persona: Persona, patient: Patient, **_: Any) -> tuple[str, str, dict[str, Any]]:
    body = {
        "patient": str(patient.pk),
        "channel": "phone",
        "outcome": "no_answer",
        "attempted_at": local(-1).isoformat(),
    }
    return "post", "/api/v1/outreach-attempts/", body


def _move(persona: Persona, patient: Patient, clinician: Any) -> tuple[str, str, dict[str, Any]]:
    start = timezone.now().replace(microsecond=0) + datetime.timedelta(days=4)
    appointment = persona.api.post(
        "/api/v1/appointments/",
        booking(patient, clinician, start.isoformat(), (start + datetime.timedelta(hours=1)).isoformat()),
        format="json",
    ).json()
    return "patch", f"/api/v1/appointments/{appointment['id']}/", {"ends_at": local(4, 11).isoformat()}


@pytest.mark.parametrize(
    ("request_for", "field"), [(_group_session, "ends_at"), (_outreach, "attempted_at"), (_move, "ends_at")]
)
def test_every_body_date_time_without_an_offset_is_400_naming_it(
    ehr_a: Persona, patient: Patient, clinician: Any, request_for: Callable[..., Any], field: str
) -> None:
    method, path, body = request_for(ehr_a, patient=patient, clinician=clinician)
    response = getattr(ehr_a.api, method)(path, body, format="json")
    assert response.status_code == 400
    assert errors(response) == {(field, "no_offset")}


def test_query_parameters_and_bodies_share_one_rule_for_offsets(ehr_a: Persona) -> None:
    response = ehr_a.api.get("/api/v1/patients/", {"updated_since": "2027-01-05T09:00:00"})
    assert response.status_code == 400
    assert response.json()["errors"] == [{"code": "no_offset", "detail": NO_OFFSET, "attr": "updated_since"}]
    assert errors(ehr_a.api.get("/api/v1/patients/", {"updated_since": "soon"})) == {("updated_since", "invalid")}


# --- unknown fields ---------------------------------------------------------------------------


def test_a_misspelt_field_is_400_naming_it_and_changes_nothing(ehr_a: Persona, patient: Patient) -> None:
    response = ehr_a.api.patch(f"/api/v1/patients/{patient.pk}/", {"phonee": "+1 312 555 0100"}, format="json")
    assert response.status_code == 400
    assert errors(response) == {("phonee", "unknown_field")}
    patient.refresh_from_db()
    assert patient.phone == "+1 312-555-0199"


def test_unknown_fields_inside_nested_objects_and_list_items_are_named_by_path(
    ehr_a: Persona, patient: Patient
) -> None:
    body = {
        "patient": str(patient.pk),
        "status": "draft",
        "emergency_plan": {"where_to_go": "Crisis centre", "xyz": 1},
        "support_persons": [{"name": "Sam", "phone": "555 0100"}, {"name": "Jo", "phone": "555 0101", "emal": ""}],
        "triggers": [{"category": "stress", "descripton": "Work"}],
        "goals": 42,
        "colour": "blue",
    }
    response = ehr_a.api.post("/api/v1/plans/", body, format="json")
    assert response.status_code == 400
    assert errors(response) == {
        ("emergency_plan.xyz", "unknown_field"),
        ("support_persons.1.emal", "unknown_field"),
        ("triggers.0.descripton", "unknown_field"),
        ("colour", "unknown_field"),
        ("goals", "invalid"),  # a known field's own error comes in the same answer
    }
    assert not AftercarePlan.objects.exists()


def test_a_patient_read_changed_and_put_back_whole_is_accepted(ehr_a: Persona, patient: Patient) -> None:
    read = ehr_a.api.get(f"/api/v1/patients/{patient.pk}/").json()
    assert {"id", "created_at", "updated_at"} <= set(read)
    response = ehr_a.api.put(f"/api/v1/patients/{patient.pk}/", {**read, "phone": "+1 312 555 0142"}, format="json")
    assert response.status_code == 200, response.json()
    patient.refresh_from_db()
    assert patient.phone == "+1 312 555 0142"


def test_a_plan_read_changed_and_put_back_whole_is_accepted(ehr_a: Persona) -> None:
    plan = PlanFactory.create(patient__clinic=ehr_a.clinic)
    read = ehr_a.api.get(f"/api/v1/plans/{plan.pk}/").json()
    changed = {**read, "goals": "Walk every morning", "created_at": "2001-01-01T00:00:00Z"}
    response = ehr_a.api.put(f"/api/v1/plans/{plan.pk}/", changed, format="json")
    assert response.status_code == 200, response.json()
    plan.refresh_from_db()
    assert (plan.goals, plan.created_at.year > 2001) == ("Walk every morning", True)


def test_read_only_fields_of_the_resource_are_ignored_by_an_action_with_its_own_body(
    ehr_a: Persona, patient: Patient
) -> None:
    # A consent is recorded from its own input; the consent's read-only fields sent back are ignored,
    # a field that is no part of a consent is not.
    created = ehr_a.api.post(
        f"/api/v1/patients/{patient.pk}/consents/", consent_body(state="expired", recorded_at="2001-01-01T00:00:00Z")
    )
    assert created.status_code == 201, created.json()
    assert created.json()["state"] == "active"
    refused = ehr_a.api.post(f"/api/v1/patients/{patient.pk}/consents/", consent_body(recipient="Someone"))
    assert errors(refused) == {("recipient", "unknown_field")}


# --- control characters -----------------------------------------------------------------------


@pytest.mark.parametrize("character", ["\u0010", "\u0007", "\u001b", "\u007f", "\u0085", "\u009b"])
def test_text_with_a_control_character_is_400_naming_the_field(
    ehr_a: Persona, patient: Patient, character: str
) -> None:
    body = consent_body(purpose=f"Report{character}attendance")
    response = ehr_a.api.post(f"/api/v1/patients/{patient.pk}/consents/", body)
    assert response.status_code == 400
    assert errors(response) == {("purpose", "control_characters")}
    assert not Consent.objects.exists()


@pytest.mark.parametrize("character", ["\n", "\r", "\u2028", "\u2029"])
def test_a_one_line_field_refuses_line_breaks(ehr_a: Persona, patient: Patient, character: str) -> None:
    response = ehr_a.api.patch(f"/api/v1/patients/{patient.pk}/", {"given_name": f"Ana{character}Maria"})
    assert errors(response) == {("given_name", "control_characters")}


def test_multi_line_text_keeps_tabs_and_line_breaks(ehr_a: Persona, patient: Patient) -> None:
    purpose = "Report attendance\r\n\tmonthly,\nto the officer"
    response = ehr_a.api.post(f"/api/v1/patients/{patient.pk}/consents/", consent_body(purpose=purpose))
    assert response.status_code == 201, response.json()
    assert Consent.objects.get().purpose == purpose


def test_a_control_character_in_a_list_item_names_the_item(ehr_a: Persona, patient: Patient) -> None:
    body = {"patient": str(patient.pk), "warning_signs": ["Skipping meals", "Calling\u0000old friends", "Bad\u0008"]}
    response = ehr_a.api.post("/api/v1/plans/", body, format="json")
    assert errors(response) == {
        ("warning_signs.1", "null_characters_not_allowed"),
        ("warning_signs.2", "control_characters"),
    }


# --- plausible dates --------------------------------------------------------------------------


def test_a_consent_signed_in_year_0271_is_refused(ehr_a: Persona, patient: Patient) -> None:
    response = ehr_a.api.post(f"/api/v1/patients/{patient.pk}/consents/", consent_body(signed_on="0271-03-01"))
    assert errors(response) == {("signed_on", "out_of_range")}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"signed_on": "1980-05-16"}, "signed_on"),  # the day before the patient's birth
        ({"signed_on": str(timezone.localdate() + datetime.timedelta(days=2))}, "signed_on"),
        (
            {
                "signed_on": str(timezone.localdate() - datetime.timedelta(days=2)),
                "expires_on": str(timezone.localdate() - datetime.timedelta(days=3)),
            },
            "expires_on",
        ),
        ({"expires_on": str(timezone.localdate() - datetime.timedelta(days=1))}, "expires_on"),
        ({"expires_on": "2027-12-01T00:00:00Z"}, "expires_on"),
    ],
)
def test_consent_dates_must_make_sense_together(
    ehr_a: Persona, patient: Patient, change: dict[str, str], field: str
) -> None:
    response = ehr_a.api.post(f"/api/v1/patients/{patient.pk}/consents/", consent_body(**change))
    assert response.status_code == 400
    assert {attr for attr, _ in errors(response)} == {field}


def test_a_consent_may_end_today_and_holds_through_the_day(ehr_a: Persona, patient: Patient) -> None:
    today = str(timezone.localdate(timezone=ehr_a.clinic.zone))
    response = ehr_a.api.post(f"/api/v1/patients/{patient.pk}/consents/", consent_body(expires_on=today))
    assert response.status_code == 201, response.json()
    assert (response.json()["expires_on"], response.json()["state"]) == (today, "active")


@pytest.mark.parametrize(("days", "accepted"), [(-700, True), (-740, False), (5 * 365, True), (5 * 366 + 2, False)])
def test_an_appointment_lies_within_two_years_back_and_five_ahead(
    ehr_a: Persona, patient: Patient, clinician: Any, days: int, accepted: bool
) -> None:
    start = timezone.now().replace(microsecond=0) + datetime.timedelta(days=days)
    body = booking(patient, clinician, start.isoformat(), (start + datetime.timedelta(hours=1)).isoformat())
    response = ehr_a.api.post("/api/v1/appointments/", body, format="json")
    if accepted:
        assert response.status_code == 201, response.json()
    else:
        assert errors(response) == {("starts_at", "out_of_range"), ("ends_at", "out_of_range")}


def test_a_birth_in_the_clinics_future_and_an_intake_before_birth_are_refused(ehr_a: Persona, patient: Patient) -> None:
    tomorrow = timezone.localdate(timezone=ehr_a.clinic.zone) + datetime.timedelta(days=1)
    url = f"/api/v1/patients/{patient.pk}/"
    assert errors(ehr_a.api.patch(url, {"date_of_birth": str(tomorrow)})) == {("date_of_birth", "out_of_range")}
    assert errors(ehr_a.api.patch(url, {"intake_date": "1979-01-01"})) == {("intake_date", "out_of_range")}
    assert errors(ehr_a.api.patch(url, {"intake_date": "2062-01-01"})) == {("intake_date", "out_of_range")}


def test_a_meeting_the_patient_went_to_cannot_be_tomorrow_or_long_ago(ehr_a: Persona, patient: Patient) -> None:
    today = timezone.localdate(timezone=ehr_a.clinic.zone)
    for date in (today + datetime.timedelta(days=1), today - datetime.timedelta(days=3 * 366)):
        body = {"patient": str(patient.pk), "kind": "twelve_step", "date": str(date)}
        assert errors(ehr_a.api.post("/api/v1/outside-meetings/", body)) == {("date", "out_of_range")}


# --- the schema says all of it ----------------------------------------------------------------


def _error_members(openapi: dict[str, Any], operation: dict[str, Any]) -> list[dict[str, Any]]:
    schemas = openapi["components"]["schemas"]

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        return schemas[node["$ref"].rsplit("/", 1)[-1]] if "$ref" in node else node

    response = resolve(operation["responses"]["400"]["content"]["application/json"]["schema"])
    validation = next(resolve(m) for m in response["oneOf"] if "Validation" in m.get("$ref", ""))
    return [resolve(m) for m in resolve(validation["properties"]["errors"]["items"])["oneOf"]]


def documented(openapi: dict[str, Any], path: str, method: str, attr: str, code: str) -> bool:
    for member in _error_members(openapi, openapi["paths"][path][method]):
        attrs, codes = member["properties"]["attr"], member["properties"]["code"]
        codes = codes.get("enum") or openapi["components"]["schemas"][codes["$ref"].rsplit("/", 1)[-1]]["enum"]
        known = "enum" in attrs or "pattern" in attrs
        named = attr in attrs.get("enum", []) or bool(re.fullmatch(attrs.get("pattern", "(?!)"), attr))
        if code in codes and (named or not known):
            return True
    return False


def test_every_operation_with_a_body_documents_unknown_fields_and_closes_its_body(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    with_body = [
        (path, method, operation)
        for path, operations in openapi["paths"].items()
        for method, operation in operations.items()
        # The OAuth2 token endpoint is RFC 6749's, with its own form body and errors.
        if isinstance(operation, dict) and "requestBody" in operation and path.startswith("/api/")
    ]
    assert len(with_body) > 25
    for path, method, operation in with_body:
        assert documented(openapi, path, method, "anything_at_all", "unknown_field"), (method, path)
        assert not documented(openapi, path, method, "anything_at_all", "invalid"), (method, path)
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        component = schemas[body["$ref"].rsplit("/", 1)[-1]]
        assert component.get("additionalProperties") is False, (method, path)
    assert schemas["EmergencyPlanRequest"]["additionalProperties"] is False


@pytest.mark.parametrize(
    ("path", "method", "attr", "code"),
    [
        ("/api/v1/appointments/", "post", "starts_at", "no_offset"),
        ("/api/v1/appointments/{id}/", "patch", "ends_at", "no_offset"),
        ("/api/v1/appointments/", "post", "starts_at", "out_of_range"),
        ("/api/v1/patients/", "get", "updated_since", "no_offset"),
        ("/api/v1/patients/{patient_id}/consents/", "post", "purpose", "control_characters"),
        ("/api/v1/patients/{patient_id}/consents/", "post", "signed_on", "out_of_range"),
        ("/api/v1/patients/{patient_id}/consents/", "post", "expires_on", "out_of_range"),
        ("/api/v1/patients/{id}/", "patch", "given_name", "control_characters"),
        ("/api/v1/patients/{id}/", "patch", "intake_date", "out_of_range"),
        ("/api/v1/plans/", "post", "warning_signs.3", "control_characters"),
        ("/api/v1/plans/", "post", "support_persons.1.emal", "unknown_field"),
    ],
)
def test_each_new_refusal_is_documented_for_its_field(
    openapi: dict[str, Any], path: str, method: str, attr: str, code: str
) -> None:
    assert documented(openapi, path, method, attr, code)


def test_the_consent_expiry_is_a_calendar_date_in_the_schema(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    assert schemas["Consent"]["properties"]["expires_on"]["format"] == "date"
    assert "expires_at" not in schemas["Consent"]["properties"]
