"""The OpenAPI schema is a product; every route is either public by design or refuses strangers."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from hypothesis import HealthCheck, settings
from rest_framework.test import APIClient
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import Persona

# Public by design. Everything else must refuse an anonymous caller.
PUBLIC = {
    "/health/": "load-balancer health check (no data)",
    "/api/schema/": "the OpenAPI document",
    "/api/docs/": "the API documentation page",
    "/o/token/": "OAuth2 token endpoint (authenticates the client itself)",
    "/o/revoke_token/": "OAuth2 revocation (authenticates the client itself)",
    "/admin/login/": "the staff sign-in page",
    "/admin/logout/": "signing out",
    "/sign-in/": "the dashboard's sign-in page",
    "/sign-out/": "signing out of the dashboard",
}
# Where a signed-out visitor is sent instead: the admin's sign-in page, or the dashboard's.
SIGN_IN_PAGES = ("/admin/login/", "/sign-in/")

# Public by design, by prefix: the rest of the path is the credential itself.
PUBLIC_PREFIXES = {
    "/r/unsubscribe/": "patients' one-click unsubscribe links: the signed token is the credential (a bad one is 400)",
    "/c/": "patients' check-in pages and check-in opt-out links: the signed token is the credential (a bad one is 404)",
    "/invite/": "staff invitation links: the signed token is the credential (a used, expired or made-up one is 404)",
}


def is_public(path: str) -> bool:
    return path in PUBLIC or path.startswith(tuple(PUBLIC_PREFIXES))


_SAMPLES = [str(uuid.UUID(int=1)), "1", "x", "clinic"]


def _sample_for(group_regex: str) -> str:
    alternatives = re.fullmatch(r"[\w|]+", group_regex)
    candidates = (group_regex.split("|") if alternatives else []) + _SAMPLES
    for candidate in candidates:
        if re.fullmatch(group_regex, candidate):
            return candidate
    raise AssertionError(f"no sample value matches {group_regex!r}")


def _concrete(regex: str) -> str:
    pattern = regex.lstrip("^").rstrip("$").replace(r"\Z", "").replace("\\", "")
    pattern = re.sub(r"\(\?P<\w+>((?:[^()]|\([^()]*\))+)\)", lambda m: _sample_for(m.group(1)), pattern)
    pattern = re.sub(r"<(?:\w+:)?\w+>", str(uuid.UUID(int=1)), pattern)
    return pattern.replace("?", "")


def every_route(resolver: URLResolver | None = None, prefix: str = "") -> Iterator[str]:
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        here = prefix + _concrete(str(entry.pattern))
        if isinstance(entry, URLResolver):
            yield from every_route(entry, here)
        elif isinstance(entry, URLPattern):
            yield "/" + here


ROUTES = sorted(set(every_route()))


def test_the_route_walk_found_the_api_the_admin_and_the_public_pages() -> None:
    assert {"/api/v1/patients/", f"/api/v1/patients/{uuid.UUID(int=1)}/", "/admin/"} <= set(ROUTES)
    assert set(PUBLIC) <= set(ROUTES)
    assert all(any(route.startswith(prefix) for route in ROUTES) for prefix in PUBLIC_PREFIXES)
    assert len(ROUTES) > 30


@pytest.mark.parametrize("path", [route for route in ROUTES if not is_public(route)])
def test_every_route_outside_the_public_list_refuses_anonymous_callers(path: str, db: None) -> None:
    resolve(path)  # the sample path must reach the route under test, not a 404
    anonymous = APIClient()
    for method in ("get", "post", "put", "patch", "delete"):
        response = getattr(anonymous, method)(path)
        if response.status_code == 302:
            assert response["Location"].startswith(SIGN_IN_PAGES), (method, path)
        else:
            assert response.status_code in (401, 403, 405), (method, path, response.status_code)


def test_the_schema_and_docs_are_public_and_self_hosted(db: None) -> None:
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert schema.json()["openapi"].startswith("3.")
    docs = APIClient().get("/api/docs/")
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "drf_spectacular_sidecar" in page
    assert "cdn." not in page
    assert "unpkg" not in page


def test_the_schema_documents_the_conventions(openapi: dict[str, Any]) -> None:
    patients = openapi["paths"]["/api/v1/patients/"]
    list_params = {p["name"] for p in patients["get"]["parameters"]}
    assert {"cursor", "page_size", "updated_since", "external_id", "status", "ordering"} <= list_params
    post = patients["post"]
    assert "Idempotency-Key" in {p["name"] for p in post["parameters"]}
    assert {"201", "400", "401", "403", "422"} <= set(post["responses"])
    upsert = patients["put"]
    assert upsert["operationId"] == "patient_upsert"
    assert any(p["name"] == "external_id" and p["required"] for p in upsert["parameters"])
    assert {"200", "201", "400"} <= set(upsert["responses"])
    assert post["security"][0] == {"oauth2": ["patients:write"]}
    assert patients["get"]["security"][0] == {"oauth2": ["patients:read"]}
    flows = openapi["components"]["securitySchemes"]["oauth2"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == "/o/token/"
    assert "Idempotency-Key" not in {p["name"] for p in patients["get"]["parameters"]}


def test_validation_errors_name_the_fields_in_the_schema(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    attr_enums = [
        schema["properties"]["attr"].get("enum", [])
        for name, schema in schemas.items()
        if name.startswith("PatientCreate") and name.endswith("ErrorComponent")
    ]
    named = {value for values in attr_enums for value in values}
    assert {"given_name", "date_of_birth", "external_id", "assigned_clinician"} <= named


def _documented(schemas: dict[str, Any], prefix: str, attr: str, code: str) -> bool:
    for name, schema in schemas.items():
        if not (name.startswith(prefix) and name.endswith("ErrorComponent")):
            continue
        attrs, codes = schema["properties"]["attr"], schema["properties"]["code"].get("enum", [])
        named = attr in attrs.get("enum", []) or ("pattern" in attrs and re.fullmatch(attrs["pattern"], attr))
        if named and code in codes:
            return True
    return False


def test_a_null_where_a_nested_object_belongs_is_a_documented_error(openapi: dict[str, Any], ehr_a: Persona) -> None:
    # Found by schemathesis: DRF names the nested field itself (`emergency_plan`, code `null`), and
    # the schema only listed `emergency_plan.non_field_errors`.
    body = {"emergency_plan": None, "sponsor": None, "support_persons": [None], "status": "draft"}
    response = ehr_a.api.post("/api/v1/plans/", body, format="json")
    assert response.status_code == 400
    errors = {(error["attr"], error["code"]) for error in response.json()["errors"]}
    assert {("emergency_plan", "null"), ("support_persons.0", "null")} <= errors
    schemas = openapi["components"]["schemas"]
    assert [e for e in sorted(errors) if not _documented(schemas, "PlanCreate", *e)] == []


def test_the_schema_lists_the_neutral_text_check_on_every_field_patients_see(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]

    def codes(component: str) -> set[str]:
        return set(schemas[component]["properties"]["code"]["enum"])

    for component in (
        "AppointmentBookLocationErrorComponent",
        "AppointmentBookTelehealthUrlErrorComponent",
        "GroupSessionCreateLocationErrorComponent",
        "AppointmentSeriesCreateLocationErrorComponent",
    ):
        assert "not_neutral" in codes(component), component


def _load_schema() -> Any:
    from clinic.wsgi import application

    # Serving the schema touches no database, so it can be loaded while tests are collected.
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


schema = _load_schema()


@schema.parametrize()
@settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_the_api_never_answers_5xx_and_conforms_to_its_schema(
    case: Any, ehr_a: Persona, keep_test_connection_open: None
) -> None:
    token = ehr_a.api._credentials["HTTP_AUTHORIZATION"]  # type: ignore[attr-defined]
    # Generated "valid" bodies may still break a rule the schema cannot express (an assigned
    # clinician that does not exist, a discharge without a date): they get a 400, which is right.
    case.call_and_validate(headers={"Authorization": token}, excluded_checks=[positive_data_acceptance])
