"""A bearer-token API call passes the middleware only a browser needs (clinic.apistack); every
other request, the dashboard's calls to the API among them, still goes through all of it."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from tests.conftest import Persona
from tests.factories import PatientFactory, verified_login

LIST = "/api/v1/patients/"


def test_a_bearer_call_reads_no_session_even_when_it_sends_a_session_cookie(
    ehr_a: Persona, clinician_a: Persona
) -> None:
    """Before, the session, its user and their authenticator device were read (three queries) and
    the answer varied by Cookie, for a call that the token alone authenticates."""
    PatientFactory.create(clinic=ehr_a.clinic)
    api = ehr_a.api
    api.cookies = clinician_a.api.cookies  # a staff member's signed-in session, sent along
    with CaptureQueriesContext(connection) as captured:
        response = api.get(LIST)
    assert response.status_code == 200
    tables = " ".join(query["sql"] for query in captured.captured_queries)
    assert "django_session" not in tables
    assert "otp_" not in tables
    assert "Cookie" not in response.get("Vary", "")
    assert "Set-Cookie" not in str(response.headers)
    # What every answer carries still does.
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"]
    assert response["Content-Security-Policy"]
    assert response["X-Request-ID"]


def test_a_session_call_to_the_api_still_has_its_session_and_csrf(clinician_a: Persona) -> None:
    assert clinician_a.user is not None
    api = APIClient(enforce_csrf_checks=True)
    verified_login(api, clinician_a.user)
    assert api.get(LIST).status_code == 200
    refused = api.post(LIST, {"given_name": "A", "family_name": "B"}, format="json")
    assert refused.status_code == 403
    assert "CSRF" in str(refused.json())


def test_a_bearer_header_on_a_dashboard_page_changes_nothing(clinician_a: Persona) -> None:
    """Only the API is authenticated by a token: a form POST elsewhere still needs its CSRF token."""
    assert clinician_a.user is not None
    browser = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION="Bearer anything")
    verified_login(browser, clinician_a.user)
    response: Any = browser.post(reverse("dashboard:sign_out"))
    assert response.status_code == 403
