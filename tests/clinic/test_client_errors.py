"""Requests a server must survive, before and after authentication: bodies nested too deep or too
large, and numbers written in other scripts' digits. Each is a 4xx in the API's error shape."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from clinic.api.parsers import MAX_DEPTH
from clinic.models import Clinic, Patient, Role
from tests.conftest import Persona
from tests.factories import MembershipFactory, UserFactory, verified_login

PATIENTS = "/api/v1/patients/"
# Python's JSON decoder recursed once per level and hit the interpreter's limit (RecursionError).
TOO_DEEP_TO_DECODE = "[" * 100_000 + "]" * 100_000
DECODABLE_BUT_TOO_DEEP = '{"given_name": ' + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "}"
LIMIT = 4096


def the_error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"type", "errors"}
    assert len(body["errors"]) == 1
    error: dict[str, Any] = body["errors"][0]
    assert set(error) == {"code", "detail", "attr"}
    return {"type": body["type"], **error}


@pytest.fixture
def callers(ehr_a: Persona, clinician_a: Persona) -> dict[str, APIClient]:
    """No token, a bad token, a valid token, a signed-in staff member: the body is read for each."""
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    return {"anonymous": APIClient(), "bad token": bad, "integration client": ehr_a.api, "staff": clinician_a.api}


@pytest.mark.parametrize("body", [TOO_DEEP_TO_DECODE, DECODABLE_BUT_TOO_DEEP], ids=["recursion", "over-limit"])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "GET"])
def test_json_nested_too_deep_is_a_400_parse_error_for_every_caller(
    callers: dict[str, APIClient], body: str, method: str
) -> None:
    for who, api in callers.items():
        response = api.generic(method, PATIENTS, body, content_type="application/json")
        assert response.status_code == 400, (who, response.status_code)
        error = the_error(response)
        assert (error["type"], error["code"], error["attr"]) == ("client_error", "parse_error", None), who
        assert "nested deeper" in error["detail"]
    assert not Patient.objects.exists()


def test_json_as_deep_as_the_limit_is_parsed(ehr_a: Persona) -> None:
    body = '{"given_name": ' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}"
    response = ehr_a.api.generic("POST", PATIENTS, body, content_type="application/json")
    assert response.status_code == 400
    assert {error["attr"] for error in response.json()["errors"]} >= {"given_name"}


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_a_body_over_the_size_limit_is_a_413_for_every_caller(
    callers: dict[str, APIClient], settings: Any, method: str
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    body = '{"given_name": "' + "x" * LIMIT + '"}'
    for who, api in callers.items():
        response = api.generic(method, PATIENTS, body, content_type="application/json")
        assert response.status_code == 413, (who, response.status_code)
        error = the_error(response)
        assert (error["type"], error["code"], error["attr"]) == ("client_error", "request_too_large", None), who
    assert not Patient.objects.exists()


def test_a_body_over_the_default_limit_is_a_413(ehr_a: Persona) -> None:
    body = '{"given_name": "' + "x" * 3_000_000 + '"}'
    response = ehr_a.api.generic("POST", PATIENTS, body, content_type="application/json")
    assert response.status_code == 413
    assert the_error(response)["code"] == "request_too_large"


def test_a_form_body_over_the_size_limit_is_a_413_at_the_token_endpoint(db: None, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    response = Client().post(
        "/o/token/", "grant_type=client_credentials&x=" + "y" * LIMIT, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413
    assert the_error(response)["code"] == "request_too_large"


def test_a_form_body_over_the_size_limit_is_refused_unread_in_the_api(ehr_a: Persona, settings: Any) -> None:
    """The API takes JSON only: a form body of any size is a 415 without being read."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    body = "given_name=" + "y" * LIMIT
    for api in (ehr_a.api, APIClient()):
        response = api.generic("POST", PATIENTS, body, content_type="application/x-www-form-urlencoded")
        assert response.status_code == 415
        assert the_error(response)["code"] == "unsupported_media_type"


def test_the_admin_answers_a_body_over_the_size_limit_with_413(clinic_a: Clinic, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    body = {"username": "someone", "password": "y" * LIMIT}
    assert Client().post("/admin/login/", body).status_code == 413
    user = UserFactory.create(is_staff=True)
    MembershipFactory.create(user=user, clinic=clinic_a, role=Role.ADMIN)
    browser = Client()
    verified_login(browser, user)
    response = browser.post("/admin/clinic/patient/add/", {"given_name": "y" * LIMIT})
    assert response.status_code == 413
    assert not Patient.objects.exists()


# `str.isdigit()` took `²` and `int()` refused it (a 500); `int()` took the others.
# Superscript two, Arabic-Indic three, full-width five, Devanagari three, mathematical bold five.
NOT_ASCII_DIGITS = ["²", "٣", "\uff15", "३", "\U0001d7d3", " 5", "5 ", "+5", "5_0", "9" * 5000]


@pytest.mark.parametrize("value", NOT_ASCII_DIGITS)
@pytest.mark.parametrize(
    "path", ["/api/v1/patients/", "/api/v1/appointments/", "/api/v1/flags/", "/api/v1/access-events/"]
)
def test_a_page_size_that_is_not_ascii_digits_is_400_naming_it(
    make_staff: Callable[..., Persona], clinic_a: Clinic, path: str, value: str
) -> None:
    auditor = make_staff(clinic_a, Role.ADMIN)
    response = auditor.api.get(path, {"page_size": value})
    assert response.status_code == 400, (path, value, response.status_code)
    error = the_error(response)
    assert (error["type"], error["code"], error["attr"]) == ("validation_error", "invalid", "page_size")


def test_the_schema_documents_413_on_writes_and_the_out_of_range_code(db: None) -> None:
    document = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    patients = document["paths"]["/api/v1/patients/"]
    assert "413" in patients["post"]["responses"]
    assert "413" not in patients["get"]["responses"]
    assert "413" in document["paths"]["/api/v1/patients/{id}/"]["patch"]["responses"]
    schemas = document["components"]["schemas"]
    for component in ("AppointmentBookStartsAtErrorComponent", "AppointmentSeriesCreateStartsOnErrorComponent"):
        assert "out_of_range" in schemas[component]["properties"]["code"]["enum"], component


def test_no_operation_answers_a_deep_oversized_or_foreign_digit_request_with_a_5xx(
    callers: dict[str, APIClient], settings: Any
) -> None:
    """The fuzz pass's deterministic core (`make fuzz` runs the long one), over every operation."""
    document = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    too_large = '{"note": "' + "x" * LIMIT + '"}'
    checked = 0
    for template, item in document["paths"].items():
        path = re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000001", template)
        for method in (m.upper() for m in item if m in ("get", "post", "put", "patch", "delete")):
            for who, api in callers.items():
                deep = api.generic(method, path, "[" * 2000 + "]" * 2000, content_type="application/json")
                big = api.generic(method, path, too_large, content_type="application/json")
                digits = api.generic(method, path, QUERY_STRING="page_size=%C2%B2&cursor=%D9%A3")
                for response in (deep, big, digits):
                    assert response.status_code < 500, (method, path, who, response.status_code)
                # (A sample id that does not match the route's pattern is a 404 before any view.)
                assert deep.status_code in (400, 404), (method, path, who, deep.status_code)
                # The token endpoint reads form bodies only: a JSON body is never read, and a
                # request without a grant is `unsupported_grant_type` (RFC 6749).
                assert big.status_code in ((400,) if path == "/o/token/" else (413, 404)), (method, path, who)
                checked += 1
    assert checked > 100
