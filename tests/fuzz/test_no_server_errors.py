"""The long fuzz pass: no request, however malformed, gets a 5xx (`make fuzz`).

Opt-in (AFTERCARE_FUZZ=1), as it takes minutes: schemathesis drives every operation of the
OpenAPI schema with many more examples than the default suite's pass (as an integration client
with every scope, and as a signed-in clinic admin), and raw hypothesis-generated bodies and query
strings (deep nesting, bodies over the size limit, bytes that are not UTF-8, digits of other
scripts) go to every operation for every kind of caller. The default suite keeps a short
deterministic version (tests/clinic/test_client_errors.py, tests/clinic/test_schema_and_routes.py).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from schemathesis.specs.openapi.checks import positive_data_acceptance

from clinic.api.parsers import MAX_DEPTH
from clinic.models import Clinic, Role
from tests.clinic.test_schema_and_routes import _load_schema
from tests.conftest import Persona

pytestmark = [
    pytest.mark.fuzz,
    pytest.mark.skipif(not os.environ.get("AFTERCARE_FUZZ"), reason="fuzz: set AFTERCARE_FUZZ=1 (or run `make fuzz`)"),
]
EXAMPLES = int(os.environ.get("AFTERCARE_FUZZ_EXAMPLES", "300"))
_SETTINGS = hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=False,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)

schema = _load_schema()


@pytest.fixture
def admin_a(clinic_a: Clinic, make_staff: Callable[..., Persona]) -> Persona:
    return make_staff(clinic_a, Role.ADMIN)


def _session_headers(persona: Persona) -> dict[str, str]:
    """A staff member's session cookie, with a CSRF token pair so writes reach the views."""
    csrf = secrets.token_hex(16)
    session = persona.api.cookies["sessionid"].value
    return {"Cookie": f"sessionid={session}; csrftoken={csrf}", "X-CSRFToken": csrf}


@schema.parametrize()
@_SETTINGS
def test_no_generated_request_of_an_integration_client_gets_a_5xx(
    case: Any, ehr_a: Persona, keep_test_connection_open: None
) -> None:
    token = ehr_a.api._credentials["HTTP_AUTHORIZATION"]  # type: ignore[attr-defined]
    case.call_and_validate(headers={"Authorization": token}, excluded_checks=[positive_data_acceptance])


@schema.parametrize()
@_SETTINGS
def test_no_generated_request_of_a_clinic_admin_gets_a_5xx(
    case: Any, admin_a: Persona, keep_test_connection_open: None
) -> None:
    case.call_and_validate(headers=_session_headers(admin_a), excluded_checks=[positive_data_acceptance])


# --- raw bodies and query strings -----------------------------------------------------------------

_DOCUMENT: dict[str, Any] = schema.raw_schema
OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in _DOCUMENT["paths"].items()
    for method in item
    if method in ("get", "post", "put", "patch", "delete")
)
_WRITES = [(method, path) for method, path in OPERATIONS if method in ("POST", "PUT", "PATCH")]


def _concrete(path: str, fallback: str) -> str:
    """The path with each parameter filled with `fallback` (an id that names nothing), or with a
    word where the route takes no id (a risk rule's code)."""
    for sample in (fallback, "no_such_rule"):
        concrete = re.sub(r"\{[^}]+\}", sample, path)
        try:
            resolve(concrete)
        except Resolver404:
            continue
        return concrete
    raise AssertionError(f"no sample reaches {path}")


def _names(method: str, path: str) -> tuple[list[str], list[str]]:
    """The body fields and query parameters an operation documents."""
    operation = _DOCUMENT["paths"][path][method.lower()]
    params = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
    content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    ref = content.get("schema", {}).get("$ref", "")
    component = _DOCUMENT["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
    return list(component.get("properties", {})), params


other_digits = st.text(alphabet=st.characters(categories=("Nd", "No")), min_size=1, max_size=8)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20) | other_digits
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
)
instants = st.sampled_from(
    ["0001-01-01T00:00:00Z", "0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59Z", "9999-12-31T23:00:00-05:00"]
) | st.sampled_from(["0001-01-01", "9999-12-31", "1899-12-31", "2200-01-01"])
rrules = st.sampled_from(["FREQ=WEEKLY;BYDAY=TU;WKST=", "FREQ=WEEKLY;INTERVAL=", "FREQ=WEEKLY;COUNT="]).flatmap(
    lambda prefix: (other_digits | st.text(max_size=6)).map(lambda tail: prefix + tail)
)


@st.composite
def bodies(draw: st.DrawFn, names: list[str]) -> bytes:
    shape = draw(st.sampled_from(["fields", "value", "deep", "deep_object", "bytes"]))
    if shape == "fields" and names:
        values = json_values | instants | rrules
        body = draw(st.dictionaries(st.sampled_from(names), values, max_size=len(names)))
        return json.dumps(body).encode()
    if shape == "deep":
        depth = draw(st.integers(MAX_DEPTH - 2, 60_000))
        return ("[" * depth + "]" * depth).encode()
    if shape == "deep_object":
        depth = draw(st.integers(MAX_DEPTH - 2, 20_000))
        return ('{"a":' * depth + "1" + "}" * depth).encode()
    if shape == "bytes":
        return draw(st.binary(max_size=200))
    return json.dumps(draw(json_values)).encode()


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, bytes, dict[str, str]]:
    method, path = draw(st.sampled_from(OPERATIONS))
    fields, params = _names(method, path)
    concrete = _concrete(path, str(draw(st.uuids())))
    body = draw(bodies(fields)) if method in ("POST", "PUT", "PATCH") or draw(st.booleans()) else b""
    names = params or ["page_size"]
    query = draw(st.dictionaries(st.sampled_from([*names, "page_size", "cursor"]), other_digits | st.text(max_size=12)))
    return method, concrete, body, query


LIMIT = 16 * 1024


@given(call=requests(), caller=st.sampled_from(["anonymous", "bad token", "integration client", "staff"]))
@_SETTINGS
def test_no_raw_body_or_query_string_gets_a_5xx(
    call: tuple[str, str, bytes, dict[str, str]], caller: str, ehr_a: Persona, admin_a: Persona
) -> None:
    method, path, body, query = call
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer " + uuid.uuid4().hex)
    api = {"anonymous": APIClient(), "bad token": bad, "integration client": ehr_a.api, "staff": admin_a.api}[caller]
    response = api.generic(
        method,
        path,
        body,  # type: ignore[arg-type]  # bytes go through as they are
        content_type="application/json",
        QUERY_STRING=urlencode(query),
    )
    assert response.status_code < 500, (method, path, caller, response.status_code)


@given(operation=st.sampled_from(_WRITES), extra=st.integers(1, 3 * LIMIT))
@_SETTINGS
def test_every_body_over_the_size_limit_is_a_413(
    operation: tuple[str, str], extra: int, ehr_a: Persona, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    method, path = operation
    path = _concrete(path, str(uuid.UUID(int=1)))
    body = '{"note": "' + "x" * (LIMIT + extra) + '"}'
    for api in (APIClient(), ehr_a.api):
        response = api.generic(method, path, body, content_type="application/json")
        assert response.status_code == 413, (method, path, response.status_code)
