"""Known PHI fed through failing requests never reaches a log line or an error report.
(The whole suite is checked the same way at the end of the run: `tests/conftest.py`.)"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from clinic.privacy import DropRequestDetails
from tests.conftest import Persona
from tests.factories import PatientFactory

NAME, FAMILY, EMAIL, DOB = "Zephyrine", "Quillfeather", "zephyrine.q@example.org", "1984-02-29"


def test_phi_in_failing_requests_stays_out_of_the_logs(
    ehr_a: Persona, ehr_b: Persona, caplog: pytest.LogCaptureFixture
) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic, given_name=NAME, family_name=FAMILY, email=EMAIL)
    theirs = PatientFactory.create(clinic=ehr_b.clinic, given_name=NAME, family_name=FAMILY)
    caplog.set_level(logging.DEBUG)
    attempts: list[Any] = [
        # invalid bodies carrying PHI
        ehr_a.api.post("/api/v1/patients/", {"given_name": NAME, "family_name": FAMILY, "date_of_birth": EMAIL}),
        ehr_a.api.post("/api/v1/patients/", {"given_name": NAME, "email": f"{NAME} {FAMILY}", "date_of_birth": DOB}),
        ehr_a.api.put(f"/api/v1/patients/?external_id={NAME}", {"given_name": NAME, "date_of_birth": "yesterday"}),
        ehr_a.api.patch(f"/api/v1/patients/{patient.pk}/", {"date_of_birth": f"{FAMILY}!"}),
        # PHI in query strings and paths
        ehr_a.api.get("/api/v1/patients/", {"updated_since": f"{NAME} {FAMILY}"}),
        ehr_a.api.get(f"/api/v1/patients/{NAME}/"),
        ehr_a.api.get(f"/api/v1/patients/{theirs.pk}/"),
        # another clinic's patient, and no credentials at all
        ehr_a.api.patch(f"/api/v1/patients/{theirs.pk}/", {"given_name": NAME}),
        ehr_a.api.__class__().get("/api/v1/patients/", {"q": EMAIL}),
        # a body that is not JSON at all
        ehr_a.api.post("/api/v1/patients/", data=f"{NAME} {FAMILY} {EMAIL}", content_type="application/json"),
    ]
    assert all(400 <= response.status_code < 500 for response in attempts), [r.status_code for r in attempts]
    # As the deployment's handlers write them: through the same filters.
    for record in caplog.records:
        DropRequestDetails().filter(record)
    logged = "\n".join(
        f"{record.getMessage()} {record.exc_text or ''} {getattr(record, 'request', '')}" for record in caplog.records
    )
    assert logged, "the failing requests were logged (so the check below looks at something)"
    for phi in (NAME, FAMILY, EMAIL, DOB):
        assert phi not in logged


def test_every_log_handler_drops_the_request_details() -> None:
    from django.conf import settings

    handlers: dict[str, Any] = settings.LOGGING["handlers"]  # type: ignore[assignment]
    for name, handler in handlers.items():
        assert "drop_request_details" in handler.get("filters", []), name


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/api/v1/patients/Jane/", "/api/v1/patients/…/"),
        ("/api/v1/appointments/5b0c6f6e-8f7a-4d0e-9a51-2d0c1f9e3c11/attendance/",) * 2,
        ("/api/v1/patients/jane.doe@example.org/history/", "/api/v1/patients/…/history/"),
        ("/admin/login/",) * 2,
    ],
)
def test_a_logged_path_keeps_route_words_and_ids_only(path: str, logged: str) -> None:
    from clinic.privacy import redact_path

    assert redact_path(path) == logged
