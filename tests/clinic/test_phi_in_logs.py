"""Known PHI fed through failing requests never reaches a log line or an error report.
(The whole suite is checked the same way at the end of the run: `tests/conftest.py`; the web
server's own access log in `test_gunicorn_access_log.py`.)"""

from __future__ import annotations

import datetime
import logging
import socket
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.servers.basehttp import WSGIRequestHandler

from aftercare.reminders.unsubscribe import unsubscribe_token
from clinic.models import Patient, Role
from clinic.privacy import DropRequestDetails
from tests import phi
from tests.conftest import Persona
from tests.factories import PatientFactory

NAME, FAMILY, EMAIL, DOB = "Zephyrine", "Quillfeather", "zephyrine.q@example.org", "1984-02-29"
MRN = "MRN-ZQ-77301"


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
    for value in (NAME, FAMILY, EMAIL, DOB):
        assert value not in logged


@pytest.mark.parametrize("client", ["httpx", "httpcore", "urllib3"])
def test_http_clients_write_no_request_urls(client: str) -> None:
    """httpx logged every request of the generated client at INFO, its whole URL with the MRN an
    integration searched for (`?external_id=MRN-1`): the suite's PHI check caught it."""
    assert not logging.getLogger(f"{client}._client").isEnabledFor(logging.INFO)
    assert logging.getLogger(client).isEnabledFor(logging.WARNING)


def test_every_log_handler_drops_the_request_details() -> None:
    from django.conf import settings

    handlers: dict[str, Any] = settings.LOGGING["handlers"]  # type: ignore[assignment]
    for name, handler in handlers.items():
        assert "drop_request_details" in handler.get("filters", []), name


def test_every_handler_attached_to_any_logger_redacts_requests() -> None:
    """Django's own defaults (runserver's `django.server` handler, the console `django` writes to
    in debug) included: a handler without the filter writes the raw path."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        if not isinstance(logger, logging.Logger):  # a placeholder for a logger never made
            continue
        for handler in logger.handlers:
            if phi.is_instrumentation(handler):
                continue
            assert any(isinstance(f, DropRequestDetails) for f in handler.filters), (logger.name, handler)


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/api/v1/patients/Jane/", "/api/v1/patients/…/"),
        ("/api/v1/patients/Jane Doe/history/", "/api/v1/patients/…/history/"),
        (
            "/api/v1/appointments/5b0c6f6e-8f7a-4d0e-9a51-2d0c1f9e3c11/attendance/",
            "/api/v1/appointments/<id>/attendance/",
        ),
        ("/api/v1/patients/jane.doe@example.org/history/", "/api/v1/patients/…/history/"),
        ("/api/v1/patients/?external_id=PA-1", "/api/v1/patients/"),
        ("/admin/clinic/patient/?q=Doe", "/admin/clinic/patient/"),
        ("/admin/clinic/accessevent/1234/change/", "/admin/clinic/accessevent/<id>/change/"),
        (
            "/r/unsubscribe/9cdfc5573406477bbb95f306ca3139e8.g9GRvuSGkBIzRbK1mgSePXQEl_H8m7nz3TIyRq/",
            "/r/unsubscribe/…/",
        ),
        ("/admin/login/",) * 2,
        ("/api/v1/patients/…/",) * 2,
        ("/api/v1/patients/<id>/",) * 2,
    ],
)
def test_a_logged_path_keeps_route_words_only(path: str, logged: str) -> None:
    from clinic.privacy import redact_path

    assert redact_path(path) == logged


@pytest.mark.parametrize(
    ("text", "logged"),
    [
        ('"GET /api/v1/patients/?external_id=PA-1 HTTP/1.1" 200 12', '"GET /api/v1/patients/ HTTP/1.1" 200 12'),
        (
            "Invalid request line: 'GET /r/unsubscribe/a b.c/ HTTP/1.1'",
            "Invalid request line: 'GET /r/unsubscribe/…/ HTTP/1.1'",
        ),
        ("Error handling request /api/v1/patients/Jane/?q=Doe", "Error handling request /api/v1/patients/…/"),
        ("from https://user:pw@clinic.example.org/admin/?q=Doe", "from https://clinic.example.org/admin/"),
        ("Listening at: http://0.0.0.0:8000 (12)",) * 2,
        ("[02/Dec/2026:13:22:28 +0000] booting worker",) * 2,
    ],
)
def test_request_lines_urls_and_paths_in_a_message_are_redacted(text: str, logged: str) -> None:
    from clinic.privacy import redact_text

    assert redact_text(text) == logged
    assert redact_text(logged) == logged


# --- The same requests in debug, and through any server ---------------------------------------


@dataclass(frozen=True)
class PhiRequest:
    method: str
    path: str
    body: str = ""
    staff: bool = False  # sent with an admin's session rather than the integration client's token


def phi_patient(clinic: Any) -> Patient:
    return PatientFactory.create(
        clinic=clinic, given_name=NAME, family_name=FAMILY, email=EMAIL, external_id=MRN,
        date_of_birth=datetime.date.fromisoformat(DOB),
    )  # fmt: skip


def phi_requests(patient: Patient) -> list[PhiRequest]:
    """Requests that carry a patient's PHI, record number, id or unsubscribe token in the path or
    the query string: each must reach the logs redacted."""
    token = unsubscribe_token(patient.pk)
    body = f'{{"given_name": "{NAME}", "family_name": "{FAMILY}", "date_of_birth": "{DOB}", "email": "{EMAIL}"}}'
    return [
        PhiRequest("GET", f"/r/unsubscribe/{token}/"),
        PhiRequest("GET", f"/r/unsubscribe/{token}x/?utm={EMAIL}"),
        PhiRequest("POST", f"/r/unsubscribe/{token}/"),
        PhiRequest("PUT", f"/api/v1/patients/?external_id={MRN}", body),
        PhiRequest("GET", f"/api/v1/patients/?external_id={MRN}&q={NAME}+{FAMILY}"),
        PhiRequest("GET", f"/api/v1/patients/{patient.pk}/?email={EMAIL}"),
        PhiRequest("GET", f"/api/v1/patients/{NAME} {FAMILY}/"),
        PhiRequest("GET", f"/api/v1/patients/{MRN}/history/"),
        PhiRequest("GET", f"/{EMAIL}/{DOB}/"),
        PhiRequest("GET", f"/admin/clinic/patient/?q={FAMILY}", staff=True),
        PhiRequest("GET", f"/admin/clinic/patient/{patient.pk}/change/?_changelist_filters=q%3D{FAMILY}", staff=True),
    ]


def phi_of(patient: Patient) -> list[str]:
    """What no log line may carry after `phi_requests`."""
    return [NAME, FAMILY, EMAIL, DOB, MRN, unsubscribe_token(patient.pk), str(patient.pk), patient.pk.hex]


def test_in_debug_phi_in_paths_and_queries_stays_out_of_the_logs(
    ehr_a: Persona, make_staff: Any, settings: Any
) -> None:
    settings.DEBUG = True
    patient = phi_patient(ehr_a.clinic)
    staff = make_staff(ehr_a.clinic, Role.ADMIN, is_staff=True)
    first = len(phi.RECORDS)

    statuses = []
    for request in phi_requests(patient):
        api = staff.api if request.staff else ehr_a.api
        response = api.generic(request.method, request.path, request.body, content_type="application/json")
        statuses.append(response.status_code)
    # runserver's line for a request, as `make run` writes it (its record carries the socket).
    with socket.socket() as connection:
        runserver = WSGIRequestHandler.__new__(WSGIRequestHandler)
        runserver.request = connection  # type: ignore[assignment]
        runserver.log_message(
            '"%s" %s %s', f"GET /r/unsubscribe/{unsubscribe_token(patient.pk)}/?e={EMAIL} HTTP/1.1", "404", "179"
        )

    written = phi.RECORDS[first:]
    assert {200, 404} <= set(statuses), statuses
    assert any("Not Found: /api/v1/patients/…/" in line for line in written), written
    assert any("GET /r/unsubscribe/…/ HTTP/1.1" in line for line in written), written
    assert phi.leaks_in(written, phi_of(patient)) == []
