"""What a clinic's interface team does first: generate a typed client from `/api/schema/` with
openapi-python-client and run an EHR sync with it.

The client is generated into a temporary folder for each test session (never committed) and talks
to the application through httpx's WSGI transport, inside the test's transaction. It is made
strict: a status the schema does not document raises `UnexpectedStatus`, and every body, success or
error, is parsed into the generated models, which raise on any value their enums or formats do not
allow. So any drift between what the server answers and what it publishes fails here.
"""

from __future__ import annotations

import datetime
import importlib
import inspect
import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.test import Client as DjangoClient
from django.utils import timezone

from clinic.models import Clinic, Role
from clinic.services.integration import integration_client_create
from tests.factories import MembershipFactory, UserFactory

PACKAGE = "aftercare_generated_client"
BASE_URL = "http://testserver"


def _generate(folder: Path) -> ModuleType:
    schema = DjangoClient().get("/api/schema/?format=json")
    assert schema.status_code == 200
    spec = folder / "openapi.json"
    spec.write_bytes(schema.content)
    config = folder / "config.json"
    # No formatter run on the output: the generated code is imported, not read.
    config.write_text(json.dumps({"package_name_override": PACKAGE, "post_hooks": []}))
    generator = Path(sys.executable).with_name("openapi-python-client")
    subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            str(spec),
            "--output-path",
            str(folder / PACKAGE),
            "--meta",
            "none",
            "--config",
            str(config),
            "--fail-on-warning",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    sys.path.insert(0, str(folder))
    try:
        return importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    try:
        return _generate(tmp_path_factory.mktemp("generated-client"))
    except subprocess.CalledProcessError as failure:
        pytest.fail(f"openapi-python-client refused the schema:\n{failure.stdout}\n{failure.stderr}")


def _http(**headers: str) -> httpx.Client:
    """HTTP to the application in this process (and in the test's transaction)."""
    from django.core.wsgi import get_wsgi_application

    return httpx.Client(base_url=BASE_URL, transport=httpx.WSGITransport(app=get_wsgi_application()), headers=headers)


class Api:
    """The generated client, strict: every call's body is parsed into the generated models."""

    def __init__(self, package: ModuleType, token: str) -> None:
        self.package = package
        self.client = package.AuthenticatedClient(
            base_url=BASE_URL, token=token, raise_on_unexpected_status=True
        ).set_httpx_client(_http(Authorization=f"Bearer {token}"))
        self.statuses: list[tuple[str, int]] = []

    def operation(self, tag: str, name: str) -> Any:
        return importlib.import_module(f"{self.package.__name__}.api.{tag}.{name}")

    def model(self, name: str) -> Any:
        return getattr(importlib.import_module(f"{self.package.__name__}.models"), name)

    def call(self, tag: str, name: str, expect: int, *, raw_body: Any = None, **kwargs: Any) -> Any:
        """One operation; its status must be `expect` and its body must parse into a model.
        `raw_body` sends JSON the typed models could not hold (a misspelt field)."""
        module = self.operation(tag, name)
        # What `sync_detailed` does, in two steps, so that a body the models refuse is shown.
        request = module._get_kwargs(**kwargs)
        if raw_body is not None:
            request["json"] = raw_body
        raw = self.client.get_httpx_client().request(**request)
        try:
            response = module._build_response(client=self.client, response=raw)
        except Exception as failure:
            raise AssertionError(
                f"{name} {raw.status_code}: the generated models refuse {raw.text[:1500]}"
            ) from failure
        self.statuses.append((name, int(response.status_code)))
        assert int(response.status_code) == expect, (name, response.status_code, response.content[:500])
        if expect != 204:
            assert response.parsed is not None, (name, response.content[:500])
            if expect >= 400:
                # An error parsed as one of the documented error models, every item included.
                assert hasattr(response.parsed, "errors"), (name, type(response.parsed))
                assert all(error.code for error in response.parsed.errors)
        return response.parsed

    def walk(self, tag: str, name: str, page_size: int = 2, **filters: Any) -> list[Any]:
        """Every page of a list, following the cursor of `next`."""
        rows: list[Any] = []
        cursor: Any = None
        # A list of fixed length (the risk rules) has the envelope but takes no page size.
        paged = "page_size" in inspect.signature(self.operation(tag, name)._get_kwargs).parameters
        for _ in range(100):
            kwargs = {**filters, "page_size": page_size} if paged else dict(filters)
            if cursor is not None:
                kwargs["cursor"] = cursor
            page = self.call(tag, name, 200, **kwargs)
            rows.extend(page.results)
            if not page.next_:
                return rows
            cursor = parse_qs(urlsplit(page.next_).query)["cursor"][0]
        raise AssertionError(f"{name}: more than 100 pages")


@pytest.fixture
def ehr(generated: ModuleType, clinic_a: Clinic, keep_test_connection_open: None) -> Callable[[list[str] | None], Api]:
    """An EHR's integration client of clinic A: credentials from the command an operator runs,
    a token from `/o/token/`, then the generated client."""

    def make(scopes: list[str] | None = None) -> Api:
        from clinic.auth.scopes import SCOPES

        credentials = integration_client_create(
            clinic=clinic_a, name=f"EHR {uuid.uuid4().hex[:6]}", scopes=scopes or list(SCOPES)
        )
        token = _http().post(
            "/o/token/",
            data={
                "grant_type": "client_credentials",
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
            },
        )
        assert token.status_code == 200, token.content
        return Api(generated, token.json()["access_token"])

    return make


def _patient(external_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "given_name": "Avery",
        "family_name": f"Sample-{external_id}",
        "date_of_birth": "1988-04-02",
        "email": f"{external_id.lower()}@example.org",
        "preferred_language": "en",
        "reminders_opt_in": True,
        "intake_date": "2026-09-01",
        **changes,
    }


def test_an_ehr_sync_through_the_generated_client_parses_every_response_and_error(
    ehr: Callable[..., Api], clinic_a: Clinic, django_capture_on_commit_callbacks: Any
) -> None:
    api = ehr()
    clinician = MembershipFactory.create(
        clinic=clinic_a, role=Role.CLINICIAN, user=UserFactory.create(), external_id="PRV-7"
    ).user
    start = timezone.now()

    # Upsert twice: the same patient, created then replaced.
    patients = {}
    for number in range(1, 4):
        mrn = f"MRN-{number}"
        body = api.model("PatientRequest").from_dict(_patient(mrn))
        first = api.call("patients", "patient_upsert", 201, external_id=mrn, body=body)
        again = api.call(
            "patients",
            "patient_upsert",
            200,
            external_id=mrn,
            body=api.model("PatientRequest").from_dict(_patient(mrn, phone="+15555550100")),
        )
        assert first.id == again.id
        patients[mrn] = again
    patient = patients["MRN-1"]
    assert len(api.walk("patients", "patients_list")) == 3
    error = api.call(
        "patients",
        "patient_upsert",
        400,
        external_id="MRN-9",
        body=api.model("PatientRequest").from_dict(_patient("MRN-9", date_of_birth="1800-01-01")),
    )
    assert {item.attr for item in error.errors} == {"date_of_birth"}

    # A plan: created active, a second active one refused as a conflict, completed, listed.
    plan_body = {"patient": str(patient.id), "status": "active", "start_date": "2026-09-01", "goals": "Stay engaged"}
    plan = api.call("plans", "plan_create", 201, body=api.model("PlanRequest").from_dict(plan_body))
    second = api.call(
        "plans", "plan_create", 201, body=api.model("PlanRequest").from_dict({**plan_body, "status": "draft"})
    )
    conflict = api.call("plans", "plan_activate", 409, id=second.id, body=api.model("PlanTransitionRequest")())
    assert conflict.errors[0].code
    completed = api.call("plans", "plan_complete", 200, id=plan.id, body=api.model("PlanTransitionRequest")())
    assert str(completed.status) == "completed"
    api.call("plans", "plan_discontinue", 200, id=second.id, body=api.model("PlanTransitionRequest")())
    statuses = {str(row.status) for row in api.walk("plans", "plans_list", page_size=1)}
    assert statuses == {"completed", "discontinued"}

    # Whom to book with, knowing only the EHR's provider id: the staff directory.
    (provider,) = api.walk("staff", "staff_list", external_id="PRV-7")
    assert (str(provider.id), str(provider.role)) == (str(clinician.pk), "clinician")

    # A time without an offset is refused, naming the field; nothing is booked.
    naive = {
        "patient": str(patient.id),
        "clinician_external_id": "PRV-7",
        "kind": "individual_therapy",
        "starts_at": "2027-01-05T09:00:00",
        "ends_at": "2027-01-05T09:50:00-05:00",
    }
    refused = api.call("appointments", "appointment_book", 400, body=api.model("AppointmentRequest").from_dict(naive))
    assert [(item.attr, str(item.code)) for item in refused.errors] == [("starts_at", "no_offset")]

    # Book, then record attendance: a no-show, another, a correction with its reason.
    booked = []
    for days_ago in (9, 6, 3):
        starts = start - datetime.timedelta(days=days_ago)
        body = {
            "patient": str(patient.id),
            "clinician_external_id": "PRV-7",
            "kind": "individual_therapy",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + datetime.timedelta(minutes=50)).isoformat(),
        }
        booked.append(
            api.call("appointments", "appointment_book", 201, body=api.model("AppointmentRequest").from_dict(body))
        )
        assert str(booked[-1].clinician) == str(clinician.pk)
    attendance = api.model("AttendanceInputRequest")
    # The risk engine runs once the attendance is committed.
    with django_capture_on_commit_callbacks(execute=True):
        for appointment in booked:
            missed = attendance.from_dict({"status": "missed"})
            api.call("appointments", "attendance_record", 200, id=appointment.id, body=missed)
    corrected = api.call(
        "appointments",
        "attendance_record",
        200,
        id=booked[0].id,
        body=attendance.from_dict({"status": "excused", "reason": "Hospitalised; the EHR had it late"}),
    )
    assert str(corrected.attendance_status) == "excused"
    unexplained = api.call(
        "appointments",
        "attendance_record",
        400,
        id=booked[1].id,
        body=attendance.from_dict({"status": "attended"}),
    )
    assert {item.attr for item in unexplained.errors} == {"reason"}
    history = api.walk("appointments", "appointment_attendance_list", page_size=1, id=booked[0].id)
    assert len(history) >= 2
    assert len(api.walk("appointments", "appointments_list", patient=patient.id)) == 3

    # Consents: without a recipient kind, then revoked.
    consent_body = {
        "recipient_name": "County Probation Office",
        "purpose": "Attendance reports for the court",
        "categories": ["attendance"],
        "expiry_event": "End of probation",
        "signed_on": "2026-09-01",
    }
    consent = api.call(
        "consents",
        "consent_record",
        201,
        patient_id=patient.id,
        body=api.model("ConsentInputRequest").from_dict(consent_body),
    )
    api.walk("consents", "consents_list", patient_id=patient.id)
    api.call(
        "consents",
        "consent_revoke",
        200,
        patient_id=patient.id,
        id=consent.id,
        body=api.model("RevokeRequest").from_dict({"reason": "Patient asked"}),
    )

    # Flags raised by the misses: acknowledged, a second acknowledgement refused as a conflict, resolved.
    flags = api.walk("flags", "flags_list", patient=patient.id)
    assert flags, "two no-shows in a row raise a flag"
    flag = flags[0]
    note = api.model("FlagNoteRequest")
    api.call("flags", "flag_acknowledge", 200, id=flag.id, body=note.from_dict({"note": "Calling today"}))
    api.call("flags", "flag_acknowledge", 409, id=flag.id, body=note.from_dict({"note": "Again"}))
    api.call("flags", "flag_resolve", 200, id=flag.id, body=note.from_dict({"note": "Reached; rebooked"}))

    # Incremental sync: only what changed since the last run. The EHR writes with If-Match, so a
    # change a clinician made in between is never overwritten unknowingly.
    mark = timezone.now()
    read = api.operation("patients", "patient_retrieve").sync_detailed(client=api.client, id=patients["MRN-2"].id)
    etag = read.headers["ETag"]
    patch = api.model("PatchedPatientRequest")
    api.call(
        "patients",
        "patient_partial_update",
        200,
        id=patients["MRN-2"].id,
        body=patch.from_dict({"phone": "+15555550111"}),
        if_match=etag,
    )
    stale = api.call(
        "patients",
        "patient_partial_update",
        412,
        id=patients["MRN-2"].id,
        body=patch.from_dict({"phone": "+15555550122"}),
        if_match=etag,
    )
    assert str(stale.errors[0].code) == "precondition_failed"
    unknown = api.call(
        "patients", "patient_partial_update", 400, id=patients["MRN-2"].id, body=patch(), raw_body={"phonee": "1"}
    )
    assert [(item.attr, str(item.code)) for item in unknown.errors] == [("phonee", "unknown_field")]
    changed = api.walk("patients", "patients_list", updated_since=mark)
    assert [row.id for row in changed] == [patients["MRN-2"].id]

    # Every other list an EHR reads, paged to the end.
    for tag, name in [
        ("appointment_series", "appointment_series_list"),
        ("support_groups", "support_groups_list"),
        ("group_sessions", "group_sessions_list"),
        ("reminders", "reminders_list"),
        ("outreach", "outreach_attempts_list"),
        ("outside_meetings", "outside_meetings_list"),
        ("flags", "risk_rules_list"),
        ("access_log", "access_events_list"),
    ]:
        api.walk(tag, name)
    api.walk("dashboard", "caseload_list", clinician=clinician.pk)
