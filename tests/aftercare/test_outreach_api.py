"""`/api/v1/outreach-attempts/`: the outreach log through the API, with the usual conventions:
scopes, other clinics' records as 404 (or a 400 naming the field), Idempotency-Key, errors that
name each bad field, cursor pagination, `updated_since`, the access log and the change history."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from aftercare.models import OutreachAttempt, RiskFlag, RiskRule
from clinic.auth.scopes import ROLE_SCOPES, SCOPES
from clinic.models import AccessEvent, Clinic, Role
from tests.conftest import Persona
from tests.factories import PatientFactory

URL = "/api/v1/outreach-attempts/"


def _flag(clinic: Clinic, patient: Any = None) -> RiskFlag:
    now = timezone.now()
    return RiskFlag.objects.create(
        clinic=clinic,
        patient=patient or PatientFactory.create(clinic=clinic),
        rule=RiskRule.NO_CONTACT,
        severity="medium",
        raised_at=now,
        evidence_updated_at=now,
    )


def _body(patient: Any, **extra: Any) -> dict[str, Any]:
    return {"patient": str(patient.pk), "channel": "phone", "outcome": "left_message", **extra}


def _attrs(response: Any) -> set[str]:
    assert response.status_code == 400, response.content
    return {error["attr"] for error in response.json()["errors"]}


def test_an_ehr_logs_an_attempt_on_a_flag_and_reads_it_back_with_its_own_name_as_the_actor(ehr_a: Persona) -> None:
    flag = _flag(ehr_a.clinic)
    follow_up = (timezone.localdate() + datetime.timedelta(days=3)).isoformat()
    response = ehr_a.api.post(
        URL, _body(flag.patient, flag=str(flag.pk), note="Voicemail", follow_up_on=follow_up), format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert response["Location"] == f"{URL}{body['id']}/"
    assert body["by"] is None
    assert body["by_client"] == str(ehr_a.client.pk)  # type: ignore[union-attr]
    assert (body["flag"], body["follow_up_on"], body["note"]) == (str(flag.pk), follow_up, "Voicemail")
    assert ehr_a.api.get(f"{URL}{body['id']}/").json() == body
    attempt = OutreachAttempt.objects.get(pk=body["id"])
    assert attempt.history.get().pgh_context.metadata["actor"] == f"client:{ehr_a.client.pk}"  # type: ignore[attr-defined, union-attr]


def test_a_clinician_logs_an_attempt_in_their_own_name(clinician_a: Persona) -> None:
    patient = PatientFactory.create(clinic=clinician_a.clinic)
    response = clinician_a.api.post(URL, _body(patient), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["by"] == str(clinician_a.user.pk)  # type: ignore[union-attr]
    assert response.json()["by_client"] is None


def test_the_read_and_write_scopes_are_needed(ehr_a: Persona, make_client: Any) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    no_read = make_client(ehr_a.clinic, [s for s in SCOPES if s != "outreach:read"])
    no_write = make_client(ehr_a.clinic, [s for s in SCOPES if s != "outreach:write"])
    assert no_read.api.get(URL).status_code == 403
    refused = no_write.api.post(URL, _body(patient), format="json")
    assert refused.status_code == 403
    assert "outreach:write" in refused.json()["errors"][0]["detail"]
    assert not OutreachAttempt.objects.exists()
    assert make_client(ehr_a.clinic, ["outreach:read"]).api.get(URL).status_code == 200


def test_the_roles_care_staff_write_the_auditor_reads_front_desk_neither(clinic_a: Clinic, make_staff: Any) -> None:
    assert {"outreach:read", "outreach:write"} <= ROLE_SCOPES[Role.CLINICIAN] & ROLE_SCOPES[Role.CASE_MANAGER]
    assert {"outreach:read", "outreach:write"} <= ROLE_SCOPES[Role.ADMIN]
    patient = PatientFactory.create(clinic=clinic_a)
    for role in (Role.CLINICIAN, Role.CASE_MANAGER, Role.ADMIN):
        assert make_staff(clinic_a, role).api.post(URL, _body(patient), format="json").status_code == 201, role
    auditor = make_staff(clinic_a, Role.AUDITOR)
    assert auditor.api.get(URL).status_code == 200
    assert auditor.api.post(URL, _body(patient), format="json").status_code == 403
    front_desk = make_staff(clinic_a, Role.FRONT_DESK)
    assert front_desk.api.get(URL).status_code == 403
    assert front_desk.api.post(URL, _body(patient), format="json").status_code == 403
    assert OutreachAttempt.objects.count() == 3


def test_another_clinics_patient_or_flag_is_a_400_naming_the_field_and_its_attempts_are_404(
    ehr_a: Persona, ehr_b: Persona
) -> None:
    mine = PatientFactory.create(clinic=ehr_a.clinic)
    theirs = PatientFactory.create(clinic=ehr_b.clinic)
    their_flag = _flag(ehr_b.clinic, theirs)
    assert _attrs(ehr_a.api.post(URL, _body(theirs), format="json")) == {"patient"}
    assert _attrs(ehr_a.api.post(URL, _body(mine, flag=str(their_flag.pk)), format="json")) == {"flag"}
    their_attempt = ehr_b.api.post(URL, _body(theirs), format="json").json()["id"]
    assert ehr_a.api.get(f"{URL}{their_attempt}/").status_code == 404
    assert ehr_a.api.get(URL).json()["results"] == []
    assert OutreachAttempt.objects.filter(clinic=ehr_a.clinic).count() == 0


@pytest.mark.parametrize(
    ("extra", "attr"),
    [
        ({"channel": "pigeon"}, "channel"),
        ({"outcome": "maybe"}, "outcome"),
        ({"attempted_at": "2199-01-01T10:00:00Z"}, "attempted_at"),
        ({"follow_up_on": "2001-01-01"}, "follow_up_on"),
        ({"note": 42}, "note"),
        ({"note": "x" * 4001}, "note"),
        ({"flag": "not-a-uuid"}, "flag"),
    ],
)
def test_a_bad_body_is_a_400_naming_the_field_and_saves_nothing(
    ehr_a: Persona, extra: dict[str, Any], attr: str
) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    assert _attrs(ehr_a.api.post(URL, _body(patient, **extra), format="json")) == {attr}
    assert not OutreachAttempt.objects.exists()


def test_a_flag_of_another_patient_is_refused_by_name(ehr_a: Persona) -> None:
    flag = _flag(ehr_a.clinic)
    other = PatientFactory.create(clinic=ehr_a.clinic)
    assert _attrs(ehr_a.api.post(URL, _body(other, flag=str(flag.pk)), format="json")) == {"flag"}


def test_the_same_idempotency_key_replays_the_first_answer(ehr_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    first = ehr_a.api.post(URL, _body(patient), format="json", HTTP_IDEMPOTENCY_KEY="call-1")
    again = ehr_a.api.post(URL, _body(patient), format="json", HTTP_IDEMPOTENCY_KEY="call-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    other = ehr_a.api.post(URL, _body(patient, outcome="reached"), format="json", HTTP_IDEMPOTENCY_KEY="call-1")
    assert other.status_code == 422
    assert OutreachAttempt.objects.count() == 1


def test_the_list_filters_by_patient_flag_and_updated_since_and_pages_by_cursor(ehr_a: Persona) -> None:
    flag = _flag(ehr_a.clinic)
    other = PatientFactory.create(clinic=ehr_a.clinic)
    on_flag = [
        ehr_a.api.post(URL, _body(flag.patient, flag=str(flag.pk)), format="json").json()["id"] for _ in range(3)
    ]
    on_other = ehr_a.api.post(URL, _body(other), format="json").json()["id"]

    def ids(**query: Any) -> set[str]:
        return {row["id"] for row in ehr_a.api.get(URL, query).json()["results"]}

    assert ids(patient=str(other.pk)) == {on_other}
    assert ids(flag=str(flag.pk)) == set(on_flag)
    assert ids(updated_since=(timezone.now() + datetime.timedelta(minutes=1)).isoformat()) == set()
    first = ehr_a.api.get(URL, {"page_size": 2}).json()
    assert len(first["results"]) == 2
    assert first["next"]
    second = APIClient()
    second.credentials(HTTP_AUTHORIZATION=ehr_a.api._credentials["HTTP_AUTHORIZATION"])  # type: ignore[attr-defined]
    rest = second.get(first["next"]).json()["results"]
    assert {row["id"] for row in first["results"] + rest} == {*on_flag, on_other}
    assert _attrs(ehr_a.api.get(URL, {"updated_since": "yesterday"})) == {"updated_since"}


def test_reads_and_writes_are_in_the_access_log(ehr_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    created = ehr_a.api.post(URL, _body(patient), format="json").json()["id"]
    listed = ehr_a.api.get(URL)
    assert listed.status_code == 200
    write, read = AccessEvent.objects.filter(object_type="outreach-attempt").order_by("at")
    assert (write.action, [str(i) for i in write.object_ids], write.patient_ids) == ("create", [created], [patient.pk])
    assert (read.action, [str(i) for i in read.object_ids], read.patient_ids) == ("list", [created], [patient.pk])


def test_the_schema_documents_the_resource_its_scopes_and_its_errors(db: None) -> None:
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    path = schema["paths"][URL]
    assert path["get"]["security"][0] == {"oauth2": ["outreach:read"]}
    assert path["post"]["security"][0] == {"oauth2": ["outreach:write"]}
    assert "Idempotency-Key" in {p["name"] for p in path["post"]["parameters"]}
    assert {"cursor", "page_size", "patient", "flag", "updated_since"} <= {p["name"] for p in path["get"]["parameters"]}
    assert {"201", "400", "403", "422"} <= set(path["post"]["responses"])
    assert f"{URL}{{id}}/" in schema["paths"]
