"""Mass assignment: no request body can set who owns a record, who made it, or a status that only
services set. Checked on the published schema (every operation that takes a body) and on the
running API (a body that tries is refused, or ignored where it sends back a read-only field)."""

from __future__ import annotations

import datetime
import re
from typing import Any

from django.utils import timezone

from aftercare.models import Appointment, AttendanceStatus
from clinic.models import Role
from tests.aftercare.factories import clinician_of
from tests.conftest import Persona, resolve_schema
from tests.factories import PatientFactory

# Never writable from a body, anywhere.
OWNERSHIP = re.compile(
    r"^(id|clinic|created_at|updated_at|created_by|recorded_by|.+_by|.+_by_client|closed_at"
    # Consents and disclosures: when recorded, released or revoked, why revoked, and what went with a release.
    r"|recorded_at|released_at|revoked_at|revocation_reason|notice|content_sha256)$"
)
# Status fields a body may set, and where: everything else with "status" in its name is the services'.
STATUS_INPUTS = {
    ("/api/v1/patients/", "status"),  # the EHR discharges and archives
    ("/api/v1/patients/{id}/", "status"),
    ("/api/v1/plans/", "status"),  # draft or active at creation only (the enum says so)
    ("/api/v1/appointments/{id}/attendance/", "status"),  # the attendance action is the way to change it
    ("/api/v1/group-sessions/{id}/attendance/", "attendance.status"),
    # Accepted only unchanged: changing it is 400 pointing at activate/, complete/, discontinue/
    # (test_a_plan_status_changes_only_through_its_transitions below).
    ("/api/v1/plans/{id}/", "status"),
}
# Ids a body may name, and where: an existing activity of the same plan, edited in place.
ID_INPUTS = {
    ("/api/v1/plans/", "activities.id"),
    ("/api/v1/plans/{id}/", "activities.id"),
}


def _writable(document: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> list[str]:
    schema = resolve_schema(document, schema)
    names = []
    for name, field in schema.get("properties", {}).items():
        field = resolve_schema(document, field) if "$ref" in field else field
        if field.get("readOnly"):
            continue
        names.append(f"{prefix}{name}")
        items = field.get("items")
        if field.get("type") == "array" and items is not None:
            names += _writable(document, items, f"{prefix}{name}.")
        elif field.get("type") == "object" or "$ref" in schema.get("properties", {})[name]:
            names += _writable(document, field, f"{prefix}{name}.")
    return names


def test_no_request_body_in_the_schema_can_set_ownership_or_a_services_status(openapi: dict[str, Any]) -> None:
    offending = []
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if method not in {"post", "put", "patch"} or body is None:
                continue
            for name in _writable(openapi, body["schema"]):
                leaf = name.rsplit(".", 1)[-1]
                if (OWNERSHIP.match(leaf) and (path, name) not in ID_INPUTS) or (
                    "status" in leaf and (path, name) not in STATUS_INPUTS
                ):
                    offending.append(f"{method.upper()} {path}: {name}")
    assert offending == [], "\n".join(offending)


def test_a_booking_body_cannot_set_the_clinic_the_outcome_or_who_recorded_it(ehr_a: Persona, ehr_b: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    clinician = clinician_of(ehr_a.clinic)
    other = clinician_of(ehr_b.clinic)
    start = timezone.now() + datetime.timedelta(days=2)
    body = {
        "patient": str(patient.pk),
        "clinician": str(clinician.pk),
        "kind": "individual_therapy",
        "starts_at": start.isoformat(),
        "ends_at": (start + datetime.timedelta(minutes=50)).isoformat(),
        "attendance_status": AttendanceStatus.ATTENDED,
        "attendance_recorded_by": str(other.pk),
        "created_at": "2001-01-01T00:00:00Z",
    }
    # `clinic` is no field of an appointment: a 400 naming it, and nothing booked.
    refused = ehr_a.api.post("/api/v1/appointments/", {**body, "clinic": str(ehr_b.clinic.pk)})
    assert refused.status_code == 400
    assert [(e["attr"], e["code"]) for e in refused.json()["errors"]] == [("clinic", "unknown_field")]
    assert not Appointment.objects.exists()
    # The appointment's read-only fields, sent as if read back, are ignored.
    response = ehr_a.api.post("/api/v1/appointments/", body)
    assert response.status_code == 201, response.json()
    appointment = Appointment.objects.get(pk=response.json()["id"])
    assert appointment.clinic_id == ehr_a.clinic.pk
    assert appointment.attendance_status == AttendanceStatus.SCHEDULED
    assert appointment.attendance_recorded_by_id is None
    assert appointment.created_at.year > 2001


def test_a_plan_body_cannot_skip_to_completed_or_name_its_author(ehr_a: Persona, make_staff: Any) -> None:
    author = make_staff(ehr_a.clinic, Role.CLINICIAN)
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    completed = author.api.post("/api/v1/plans/", {"patient": str(patient.pk), "status": "completed"})
    assert completed.status_code == 400
    assert completed.json()["errors"][0]["attr"] == "status"


def test_a_plan_status_changes_only_through_its_transitions(ehr_a: Persona, make_staff: Any) -> None:
    author = make_staff(ehr_a.clinic, Role.CLINICIAN)
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    plan = author.api.post("/api/v1/plans/", {"patient": str(patient.pk), "status": "active"}).json()
    changed = author.api.patch(f"/api/v1/plans/{plan['id']}/", {"status": "completed"})
    assert changed.status_code == 400
    assert changed.json()["errors"][0]["attr"] == "status"
    assert author.api.get(f"/api/v1/plans/{plan['id']}/").json()["status"] == "active"
