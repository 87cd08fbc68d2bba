"""Every list: one envelope, a keyset cursor (a bad one is a 400 naming `cursor`), `ordering` as
an enum (an unknown value is a 400 naming `ordering`), and the caseload paged in its risk order."""

from __future__ import annotations

import base64
import datetime
import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from aftercare.models import AttendanceStatus, RiskFlag
from aftercare.risk.engine import evaluate
from aftercare.selectors.caseload import caseload_list
from clinic.models import AccessEvent, Patient, Role
from tests.aftercare.factories import AppointmentFactory, GroupSessionFactory, SupportGroupFactory
from tests.conftest import Persona, resolve_schema
from tests.factories import PatientFactory

API = "/api/v1/"
CASELOAD = f"{API}dashboard/caseload/"


def _json_schema(document: dict[str, Any], response: dict[str, Any]) -> dict[str, Any] | None:
    content = response.get("content", {}).get("application/json")
    return resolve_schema(document, content["schema"]) if content else None


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def _attrs(document: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    """Every `attr` value a 400 response schema allows."""
    schema = resolve_schema(document, schema)
    found: set[str] = set()
    for part in (*schema.get("oneOf", []), *schema.get("anyOf", [])):
        found |= _attrs(document, part)
    for name, prop in schema.get("properties", {}).items():
        prop = resolve_schema(document, prop)
        if name == "attr":
            found |= set(prop.get("enum", []))
        elif prop.get("type") == "array":
            found |= _attrs(document, prop["items"])
    return found


def _list_operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """The operations whose 2xx body holds rows: a `results` envelope, or (wrongly) a bare array."""
    found = []
    for path, method, operation in _operations(document):
        for code, response in operation["responses"].items():
            schema = _json_schema(document, response) if code.startswith("2") else None
            if schema and (schema.get("type") == "array" or "results" in schema.get("properties", {})):
                found.append((path, method, operation, schema))
    return found


def test_every_list_operation_answers_the_one_envelope(openapi: dict[str, Any]) -> None:
    lists = _list_operations(openapi)
    paths = {path for path, *_ in lists}
    # Those that used to answer a bare array are among them.
    assert {
        f"{API}risk-rules/",
        f"{API}dashboard/caseload/",
        f"{API}appointments/{{id}}/attendance/",
        f"{API}support-groups/{{id}}/members/",
        f"{API}group-sessions/{{id}}/attendance/",
    } <= paths
    for path, method, _, schema in lists:
        assert schema.get("type") == "object", (method, path)
        assert set(schema["required"]) == {"next", "previous", "results"}, (method, path)
        assert schema["properties"]["results"]["type"] == "array", (method, path)
        for link in ("next", "previous"):
            assert schema["properties"][link]["nullable"] is True, (method, path)


def test_every_paged_list_documents_a_bad_cursor_and_ordering_as_400s_naming_them(openapi: dict[str, Any]) -> None:
    paged = 0
    for path, method, operation in _operations(openapi):
        parameters = {parameter["name"]: parameter for parameter in operation.get("parameters", [])}
        if "cursor" not in parameters:
            continue
        paged += 1
        attrs = _attrs(openapi, operation["responses"]["400"]["content"]["application/json"]["schema"])
        assert {"cursor", "page_size"} <= attrs, (method, path)
        if "ordering" in parameters:
            assert "ordering" in attrs, (method, path)
            values = parameters["ordering"]["schema"]["enum"]
            assert {"created_at", "-created_at", "updated_at", "-updated_at"} <= set(values), (method, path)
        if "updated_since" in parameters:
            # Incremental sync: `updated_since` with `ordering=updated_at`, on every list that syncs.
            assert "ordering" in parameters, (method, path)
    assert paged >= 15


def test_natural_orderings_are_offered(openapi: dict[str, Any]) -> None:
    def values(path: str) -> set[str]:
        parameters = openapi["paths"][path]["get"]["parameters"]
        return set(next(p for p in parameters if p["name"] == "ordering")["schema"]["enum"])

    assert {"starts_at", "-starts_at"} <= values(f"{API}appointments/")
    assert {"starts_at", "-starts_at"} <= values(f"{API}group-sessions/")
    assert {"send_at", "-send_at"} <= values(f"{API}reminders/")
    assert {"updated_at", "-updated_at"} <= values(f"{API}flags/")


# -- at run time --------------------------------------------------------------------------------


@pytest.fixture
def list_urls(ehr_a: Persona, make_staff: Any) -> list[str]:
    clinic = ehr_a.clinic
    patient = PatientFactory.create(clinic=clinic)
    appointment = AppointmentFactory.create(patient=patient, clinic=clinic)
    group = SupportGroupFactory.create(clinic=clinic)
    session = GroupSessionFactory.create(group=group)
    clinician = make_staff(clinic, Role.CLINICIAN).user
    return [
        f"{API}patients/",
        f"{API}patients/{patient.pk}/history/",
        f"{API}patients/{patient.pk}/consents/",
        f"{API}patients/{patient.pk}/disclosures/",
        f"{API}access-events/",
        f"{API}plans/",
        f"{API}appointments/",
        f"{API}appointments/{appointment.pk}/attendance/",
        f"{API}appointment-series/",
        f"{API}support-groups/",
        f"{API}support-groups/{group.pk}/members/",
        f"{API}group-sessions/",
        f"{API}group-sessions/{session.pk}/attendance/",
        f"{API}outside-meetings/",
        f"{API}reminders/",
        f"{API}flags/",
        f"{API}outreach-attempts/",
        f"{API}care-transitions/",
        f"{API}medication-events/",
        f"{API}drug-screens/",
        f"{CASELOAD}?clinician={clinician.pk}",
    ]


def _get(api: APIClient, url: str, **params: str) -> Any:
    joiner = "&" if "?" in url else "?"
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return api.get(f"{url}{joiner}{query}" if query else url)


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "eyJvIjpbXX0",
        base64.urlsafe_b64encode(b'{"o":["-created_at","id"],"v":["x","y"],"r":false}').decode(),
    ],
)
def test_a_bad_cursor_is_a_400_naming_cursor_on_every_list(ehr_a: Persona, list_urls: list[str], cursor: str) -> None:
    for url in list_urls:
        response = _get(ehr_a.api, url, cursor=cursor)
        assert response.status_code == 400, url
        assert response.json()["errors"] == [
            {"code": "invalid", "detail": response.json()["errors"][0]["detail"], "attr": "cursor"}
        ], url


def test_every_list_answers_the_envelope(ehr_a: Persona, list_urls: list[str]) -> None:
    for url in list_urls:
        body = ehr_a.api.get(url).json()
        assert set(body) == {"next", "previous", "results"}, url
    rules = ehr_a.api.get(f"{API}risk-rules/").json()
    assert (rules["next"], rules["previous"]) == (None, None)
    assert len(rules["results"]) >= 7


@pytest.mark.parametrize("ordering", ["name", "-", "id", "updated_at,id", "starts_at"])
def test_an_unknown_ordering_is_a_400_naming_ordering(ehr_a: Persona, ordering: str) -> None:
    response = ehr_a.api.get(f"{API}patients/", {"ordering": ordering})
    assert response.status_code == 400
    assert [(e["code"], e["attr"]) for e in response.json()["errors"]] == [("invalid", "ordering")]


def test_a_cursor_made_for_one_ordering_is_refused_under_another(ehr_a: Persona) -> None:
    PatientFactory.create_batch(3, clinic=ehr_a.clinic)
    next_link = ehr_a.api.get(f"{API}patients/", {"page_size": 1}).json()["next"]
    response = ehr_a.api.get(next_link + "&ordering=updated_at")
    assert (response.status_code, response.json()["errors"][0]["attr"]) == (400, "cursor")


def _walk(api: APIClient, url: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    link: str | None = url
    while link:
        page = api.get(link).json()
        rows += page["results"]
        link = page["next"]
    return rows


def test_flags_sync_in_updated_at_order(ehr_a: Persona) -> None:
    flags = [_flag(ehr_a) for _ in range(4)]
    # Touch them in an order unlike their creation.
    for flag in (flags[2], flags[0], flags[3], flags[1]):
        RiskFlag.objects.filter(pk=flag.pk).update(resolution_note="")
    expected = [str(pk) for pk in RiskFlag.objects.order_by("updated_at", "id").values_list("pk", flat=True)]
    rows = _walk(ehr_a.api, f"{API}flags/?ordering=updated_at&page_size=3")
    assert [row["id"] for row in rows] == expected
    rows = _walk(ehr_a.api, f"{API}flags/?ordering=-updated_at&page_size=3")
    assert [row["id"] for row in rows] == expected[::-1]


def _flag(persona: Persona) -> RiskFlag:
    patient = PatientFactory.create(clinic=persona.clinic)
    return RiskFlag.objects.create(
        clinic=persona.clinic,
        patient=patient,
        rule="no_contact",
        severity="medium",
        status="open",
        evidence=[],
        raised_at=timezone.now(),
        evidence_updated_at=timezone.now(),
    )


def test_thousands_of_rows_sharing_one_updated_at_are_each_walked_once(ehr_a: Persona) -> None:
    """A bulk change stamps many rows alike; a cursor on the first key alone (with an offset capped
    at 1000) repeats or loses rows past the thousandth."""
    Patient.objects.bulk_create(PatientFactory.build_batch(1050, clinic=ehr_a.clinic))
    same = timezone.now()
    Patient.objects.filter(clinic=ehr_a.clinic).update(updated_at=same)
    rows = _walk(ehr_a.api, f"{API}patients/?ordering=updated_at&page_size=200")
    assert len(rows) == 1050 == len({row["id"] for row in rows})


def test_previous_links_walk_back_over_the_same_pages(ehr_a: Persona) -> None:
    PatientFactory.create_batch(7, clinic=ehr_a.clinic)
    forward: list[list[str]] = []
    page = ehr_a.api.get(f"{API}patients/", {"page_size": "3", "ordering": "created_at"}).json()
    assert page["previous"] is None
    while True:
        forward.append([row["id"] for row in page["results"]])
        if page["next"] is None:
            break
        page = ehr_a.api.get(page["next"]).json()
    backward = [[row["id"] for row in page["results"]]]
    while page["previous"] is not None:
        page = ehr_a.api.get(page["previous"]).json()
        backward.append([row["id"] for row in page["results"]])
    assert backward[::-1] == forward
    assert [len(ids) for ids in forward] == [3, 3, 1]


def test_appointments_order_by_start(ehr_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    now = timezone.now().replace(microsecond=0)
    made = [
        AppointmentFactory.create(patient=patient, clinic=ehr_a.clinic, starts_at=now + datetime.timedelta(days=d))
        for d in (3, 1, 2)
    ]
    rows = _walk(ehr_a.api, f"{API}appointments/?ordering=starts_at&page_size=2")
    assert [row["id"] for row in rows] == [str(made[1].pk), str(made[2].pk), str(made[0].pk)]


# -- the caseload -------------------------------------------------------------------------------


def _caseload(ehr: Persona, make_staff: Any, size: int) -> Any:
    clinician = make_staff(ehr.clinic, Role.CLINICIAN)
    now = timezone.now()
    patients = PatientFactory.create_batch(size, clinic=ehr.clinic, assigned_clinician=clinician.user)
    for index, patient in enumerate(patients[: size // 2]):
        # Some at risk (missed twice), some not: the walk crosses risk levels and ties.
        for weeks in (2, 1) if index % 2 else (1,):
            AppointmentFactory.create(patient=patient, clinic=ehr.clinic, attendance_status=AttendanceStatus.MISSED,
                                      starts_at=now - datetime.timedelta(weeks=weeks))  # fmt: skip
    evaluate(patient_ids=[patient.pk for patient in patients])
    return clinician


def test_the_caseload_pages_in_the_dashboards_order_and_names_no_patient_in_its_links(
    ehr_a: Persona, make_staff: Any
) -> None:
    clinician = _caseload(ehr_a, make_staff, 13)
    Patient.objects.filter(clinic=ehr_a.clinic).update(family_name="Same")  # ties on name too
    expected = [str(p.pk) for p in caseload_list(clinic=ehr_a.clinic, clinician=clinician.user.pk)]
    link: str | None = f"{CASELOAD}?page_size=4"
    seen: list[str] = []
    names = {p.given_name for p in Patient.objects.filter(clinic=ehr_a.clinic)}
    while link:
        page = clinician.api.get(link).json()
        assert len(page["results"]) <= 4
        seen += [row["patient"] for row in page["results"]]
        link = page["next"]
        if link:
            cursor = link.split("cursor=")[1].split("&")[0]
            decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            assert "Same" not in decoded
            assert not any(name in decoded for name in names)
            json.loads(decoded)
    assert seen == expected
    assert len(expected) == 13


def test_a_caseload_page_logs_only_its_own_patients(ehr_a: Persona, make_staff: Any) -> None:
    clinician = _caseload(ehr_a, make_staff, 6)
    page = clinician.api.get(CASELOAD, {"page_size": 2}).json()
    event = AccessEvent.objects.filter(object_type="dashboard.caseload").get()
    assert sorted(map(str, event.patient_ids)) == sorted(row["patient"] for row in page["results"])
    assert len(event.patient_ids) == 2


def test_the_caseload_answers_in_as_many_queries_for_5_rows_as_for_50(ehr_a: Persona, make_staff: Any) -> None:
    clinician = _caseload(ehr_a, make_staff, 60)
    first = clinician.api.get(CASELOAD, {"page_size": 5}).json()  # warm: session and permission lookups

    def queries(page_size: int, cursor: str | None) -> int:
        with CaptureQueriesContext(connection) as captured:
            url = cursor or f"{CASELOAD}?page_size=5"
            response = clinician.api.get(url.replace("page_size=5", f"page_size={page_size}"))
        assert len(response.json()["results"]) == page_size
        return len(captured)

    assert queries(5, None) == queries(50, None)
    assert queries(5, first["next"]) == queries(50, first["next"])


def test_a_caseload_page_size_out_of_range_is_a_400(ehr_a: Persona, make_staff: Any) -> None:
    clinician = make_staff(ehr_a.clinic, Role.CLINICIAN)
    response = clinician.api.get(CASELOAD, {"page_size": 201})
    assert (response.status_code, response.json()["errors"][0]["attr"]) == (400, "page_size")
