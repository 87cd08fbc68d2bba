"""Optimistic concurrency: every detail response carries a strong `ETag`; a write with an `If-Match`
naming an older version is a 412 that writes nothing, and another clinic's object is a 404 first."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from aftercare.models import AftercarePlan, RiskFlag
from clinic.models import Patient, Role
from tests.aftercare.factories import AppointmentFactory, PlanFactory, SupportGroupFactory
from tests.clinic.test_patients_api import new_patient
from tests.conftest import Persona
from tests.factories import PatientFactory

API = "/api/v1/"
PRECONDITION_FAILED = {
    "type": "client_error",
    "errors": [
        {
            "code": "precondition_failed",
            "detail": "The object changed since the version named in If-Match: read it again, then retry.",
            "attr": None,
        }
    ],
}


def _flag(persona: Persona) -> RiskFlag:
    now = timezone.now()
    return RiskFlag.objects.create(
        clinic=persona.clinic,
        patient=PatientFactory.create(clinic=persona.clinic),
        rule="no_contact",
        severity="medium",
        status="open",
        evidence=[],
        raised_at=now,
        evidence_updated_at=now,
    )


# A detail URL and a write that changes its object: (method, path suffix, body).
Write = tuple[str, str, dict[str, Any]]


def _patient(p: Persona) -> tuple[str, list[Write]]:
    patient = PatientFactory.create(clinic=p.clinic)
    return f"{API}patients/{patient.pk}/", [
        ("patch", "", {"phone": "+1 312-555-0101"}),
        ("patch", "", {"phone": "+1 312-555-0102"}),
    ]


def _plan(p: Persona) -> tuple[str, list[Write]]:
    plan = PlanFactory.create(clinic=p.clinic, patient=PatientFactory.create(clinic=p.clinic))
    return f"{API}plans/{plan.pk}/", [("patch", "", {"goals": "First"}), ("patch", "", {"goals": "Second"})]


def _appointment(p: Persona) -> tuple[str, list[Write]]:
    appointment = AppointmentFactory.create(clinic=p.clinic, patient=PatientFactory.create(clinic=p.clinic),
                                            starts_at=timezone.now() + datetime.timedelta(days=3))  # fmt: skip
    return f"{API}appointments/{appointment.pk}/", [
        ("patch", "", {"location": "Room 1"}),
        ("patch", "", {"location": "Room 2"}),
    ]


def _group(p: Persona) -> tuple[str, list[Write]]:
    group = SupportGroupFactory.create(clinic=p.clinic)
    return f"{API}support-groups/{group.pk}/", [
        ("patch", "", {"name": "Monday group"}),
        ("patch", "", {"name": "Friday group"}),
    ]


def _flag_transitions(p: Persona) -> tuple[str, list[Write]]:
    flag = _flag(p)
    return f"{API}flags/{flag.pk}/", [
        ("post", "acknowledge/", {}),
        ("post", "resolve/", {"note": "Called, back on track."}),
    ]


def _risk_rule(p: Persona) -> tuple[str, list[Write]]:
    return f"{API}risk-rules/no_contact/", [("patch", "", {"enabled": False}), ("patch", "", {"enabled": True})]


RESOURCES: dict[str, Callable[[Persona], tuple[str, list[Write]]]] = {
    "patient": _patient,
    "plan": _plan,
    "appointment": _appointment,
    "support-group": _group,
    "flag": _flag_transitions,
    "risk-rule": _risk_rule,
}


@pytest.fixture
def admin_a(ehr_a: Persona, make_staff: Any) -> Persona:
    admin: Persona = make_staff(ehr_a.clinic, Role.ADMIN)
    return admin


def _send(api: APIClient, method: str, url: str, body: dict[str, Any], **headers: str) -> Any:
    return getattr(api, method)(url, body, format="json", headers=headers)


@pytest.mark.parametrize("resource", RESOURCES)
def test_a_write_with_the_current_etag_succeeds_and_a_stale_one_is_a_412_that_writes_nothing(
    admin_a: Persona, resource: str
) -> None:
    url, (first, second) = RESOURCES[resource](admin_a)
    read = admin_a.api.get(url)
    etag = read["ETag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    assert admin_a.api.get(url)["ETag"] == etag  # the same version, the same tag

    written = _send(admin_a.api, first[0], url + first[1], first[2], **{"If-Match": etag})
    assert written.status_code == 200, written.json()
    assert written["ETag"] != etag
    # The tag the write answered with is the one a read gives now: a client can chain writes.
    assert admin_a.api.get(url)["ETag"] == written["ETag"]

    # A second writer still holding the first version loses, and changes nothing.
    stale = _send(admin_a.api, second[0], url + second[1], second[2], **{"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json() == PRECONDITION_FAILED
    assert "ETag" not in stale
    assert admin_a.api.get(url).json() == written.json()

    chained = _send(admin_a.api, second[0], url + second[1], second[2], **{"If-Match": written["ETag"]})
    assert chained.status_code == 200, chained.json()


def test_without_if_match_a_write_overwrites_as_before(ehr_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    url = f"{API}patients/{patient.pk}/"
    assert ehr_a.api.patch(url, {"phone": "+1 312-555-0111"}).status_code == 200
    assert ehr_a.api.patch(url, {"phone": "+1 312-555-0112"}).status_code == 200


def test_if_match_takes_a_list_or_a_star_and_never_a_weak_tag(ehr_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    url = f"{API}patients/{patient.pk}/"
    etag = ehr_a.api.get(url)["ETag"]
    assert ehr_a.api.patch(url, {"phone": "+1 312-555-0121"}, headers={"If-Match": f"W/{etag}"}).status_code == 412
    assert ehr_a.api.patch(url, {"phone": "+1 312-555-0121"}, headers={"If-Match": f'"x", {etag}'}).status_code == 200
    assert ehr_a.api.patch(url, {"phone": "+1 312-555-0122"}, headers={"If-Match": "*"}).status_code == 200


def test_a_created_object_carries_the_etag_a_read_gives(ehr_a: Persona) -> None:
    created = ehr_a.api.post(f"{API}patients/", new_patient(external_id="MRN-ETAG-1"), format="json")
    assert created.status_code == 201
    assert ehr_a.api.get(created["Location"])["ETag"] == created["ETag"]


def test_lists_carry_no_etag(ehr_a: Persona) -> None:
    assert "ETag" not in ehr_a.api.get(f"{API}patients/")


# -- the upsert ---------------------------------------------------------------------------------


def _upsert(api: APIClient, external_id: str, phone: str, **headers: str) -> Any:
    body = new_patient(phone=phone)
    del body["external_id"]
    return api.put(f"{API}patients/?external_id={external_id}", body, format="json", headers=headers)


def test_the_upsert_honours_if_match_when_the_patient_exists(ehr_a: Persona) -> None:
    created = _upsert(ehr_a.api, "MRN-U1", "+1 312-555-0131")
    assert created.status_code == 201
    etag = created["ETag"]
    assert ehr_a.api.get(created["Location"])["ETag"] == etag
    replaced = _upsert(ehr_a.api, "MRN-U1", "+1 312-555-0132", **{"If-Match": etag})
    assert replaced.status_code == 200
    stale = _upsert(ehr_a.api, "MRN-U1", "+1 312-555-0133", **{"If-Match": etag})
    assert (stale.status_code, stale.json()) == (412, PRECONDITION_FAILED)
    assert Patient.objects.get(external_id="MRN-U1").phone == "+1 312-555-0132"


def test_an_upsert_with_if_match_of_a_patient_that_does_not_exist_creates_nothing(ehr_a: Persona) -> None:
    response = _upsert(ehr_a.api, "MRN-U2", "+1 312-555-0141", **{"If-Match": '"0123"'})
    assert response.status_code == 412
    assert not Patient.objects.filter(external_id="MRN-U2").exists()


# -- other clinics and roles --------------------------------------------------------------------


def test_another_clinics_object_is_a_404_before_any_precondition_and_shows_no_etag(
    ehr_a: Persona, ehr_b: Persona
) -> None:
    theirs = PatientFactory.create(clinic=ehr_b.clinic)
    url = f"{API}patients/{theirs.pk}/"
    etag = ehr_b.api.get(url)["ETag"]
    for response in (
        ehr_a.api.get(url),
        ehr_a.api.patch(url, {"phone": "+1 312-555-0151"}, headers={"If-Match": etag}),
        ehr_a.api.patch(url, {"phone": "+1 312-555-0151"}, headers={"If-Match": '"stale"'}),
    ):
        assert response.status_code == 404
        assert "ETag" not in response
    assert _upsert(ehr_a.api, str(theirs.external_id), "+1 312-555-0152", **{"If-Match": etag}).status_code == 412
    assert Patient.objects.get(pk=theirs.pk).phone == theirs.phone


def test_a_role_that_may_not_write_is_refused_before_any_precondition(ehr_a: Persona, make_staff: Any) -> None:
    plan = PlanFactory.create(clinic=ehr_a.clinic, patient=PatientFactory.create(clinic=ehr_a.clinic))
    auditor = make_staff(ehr_a.clinic, Role.AUDITOR)
    url = f"{API}plans/{plan.pk}/"
    etag = auditor.api.get(url)["ETag"]  # a reader sees the version too
    assert auditor.api.patch(url, {"goals": "x"}, headers={"If-Match": etag}).status_code == 403
    assert auditor.api.patch(url, {"goals": "x"}, headers={"If-Match": '"stale"'}).status_code == 403
    assert AftercarePlan.objects.get(pk=plan.pk).goals == plan.goals


# -- the schema ---------------------------------------------------------------------------------


def test_the_schema_documents_etag_if_match_and_412(openapi: dict[str, Any]) -> None:
    paths = openapi["paths"]
    for path, method in [
        (f"{API}patients/{{id}}/", "patch"),
        (f"{API}patients/{{id}}/", "put"),
        (f"{API}patients/", "put"),
        (f"{API}plans/{{id}}/activate/", "post"),
        (f"{API}flags/{{id}}/resolve/", "post"),
        (f"{API}risk-rules/{{id}}/", "patch"),
    ]:
        operation = paths[path][method]
        assert "If-Match" in {p["name"] for p in operation["parameters"] if p["in"] == "header"}, (method, path)
        assert "412" in operation["responses"], (method, path)
        ok = operation["responses"].get("200") or operation["responses"]["201"]
        assert "ETag" in ok.get("headers", {}), (method, path)
    for path in (f"{API}patients/{{id}}/", f"{API}appointments/{{id}}/", f"{API}risk-rules/{{id}}/"):
        assert "ETag" in paths[path]["get"]["responses"]["200"]["headers"], path
        assert "412" not in paths[path]["get"]["responses"], path
    assert "ETag" not in paths[f"{API}patients/"]["get"]["responses"]["200"].get("headers", {})
    assert "412" not in paths[f"{API}patients/"]["post"]["responses"]
