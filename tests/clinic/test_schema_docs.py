"""The published schema as a generated client and its developers read it: readable operation
names, a summary and examples everywhere (examples that hold), no notes meant for this codebase's
developers, the scopes the server enforces, the errors it answers, the patterns it checks."""

from __future__ import annotations

import copy
import functools
import re
import uuid
from collections.abc import Iterator
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from clinic.auth.scopes import SCOPES
from tests.conftest import Persona
from tests.factories import PatientFactory

METHODS = ("get", "put", "post", "patch", "delete")
INTERNAL_PHRASES = re.compile(r"faster output|subclass|queryset|selector|serializer|\bself\.", re.IGNORECASE)
TOKEN_PATH = "/o/token/"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@functools.cache
def _schema() -> dict[str, Any]:
    # Generating the schema touches no database.
    return SchemaGenerator().get_schema(request=None, public=True)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return _schema()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def api_operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, operation) for path, method, operation in operations(document) if path != TOKEN_PATH]


# -- JSON Schema from OpenAPI 3.0 ------------------------------------------------------------------


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0 to JSON Schema: `nullable` becomes a null alternative, and an object takes no
    property it does not list (an example with a made-up field is a lie too)."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _json_schema(value) for key, value in node.items() if key not in ("nullable", "example")}
    if "properties" in converted and "additionalProperties" not in converted:
        converted["additionalProperties"] = False
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def _formats() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker()
    checker.checks("date-time")(lambda value: not isinstance(value, str) or bool(RFC3339.match(value)))
    checker.checks("date")(lambda value: not isinstance(value, str) or bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)))
    checker.checks("time")(
        lambda value: not isinstance(value, str) or bool(re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", value))
    )
    checker.checks("uuid")(lambda value: not isinstance(value, str) or bool(uuid.UUID(value)))
    checker.checks("uri")(
        lambda value: not isinstance(value, str) or bool(re.match(r"[a-z][a-z0-9+.-]*://\S+$", value))
    )
    checker.checks("email")(lambda value: not isinstance(value, str) or "@" in value)
    return checker


def validate(document: dict[str, Any], schema: dict[str, Any], value: Any) -> None:
    root = {**_json_schema(schema), "components": _json_schema(copy.deepcopy(document["components"]))}
    jsonschema.Draft202012Validator(root, format_checker=_formats()).validate(value)


def _examples(content: dict[str, Any]) -> list[tuple[str, Any, dict[str, Any]]]:
    """(media type, example value, schema) of every example a body documents."""
    found = []
    for media_type, body in content.items():
        for example in body.get("examples", {}).values():
            found.append((media_type, example["value"], body["schema"]))
    return found


def _success(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {code: response for code, response in operation["responses"].items() if code.startswith("2")}


# -- operationIds, summaries, descriptions ----------------------------------------------------------


def test_every_operation_has_a_readable_unique_operation_id(openapi: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(openapi)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    unreadable = [i for i in ids if not re.fullmatch(r"[a-z]+(_[a-z]+)+", i) or re.search(r"_(create|retrieve)_", i)]
    assert unreadable == []
    assert {"attendance_record", "flag_acknowledge", "access_events_export", "patients_list"} <= set(ids)


def test_one_object_is_named_in_the_singular_and_a_collection_in_the_plural(openapi: dict[str, Any]) -> None:
    ids = {(path, method): operation["operationId"] for path, method, operation in operations(openapi)}
    assert ids[("/api/v1/patients/", "get")] == "patients_list"
    assert ids[("/api/v1/patients/", "post")] == "patient_create"
    assert ids[("/api/v1/patients/", "put")] == "patient_upsert"
    assert ids[("/api/v1/patients/{id}/", "get")] == "patient_retrieve"
    assert ids[("/api/v1/flags/{id}/resolve/", "post")] == "flag_resolve"
    assert ids[("/api/v1/appointments/{id}/attendance/", "get")] == "appointment_attendance_list"
    assert ids[("/api/v1/patients/{patient_id}/consents/{id}/revoke/", "post")] == "consent_revoke"


def test_every_operation_has_a_summary(openapi: dict[str, Any]) -> None:
    missing = [operation["operationId"] for _, _, operation in operations(openapi) if not operation.get("summary")]
    assert missing == []


def _texts(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("summary", "description", "title") and isinstance(value, str):
                yield f"{where}.{key}", value
            else:
                yield from _texts(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _texts(item, f"{where}.{index}")


def test_no_note_meant_for_developers_reaches_the_schema(openapi: dict[str, Any]) -> None:
    leaks = [(where, text[:80]) for where, text in _texts(openapi) if INTERNAL_PHRASES.search(text)]
    assert leaks == []


# -- examples -----------------------------------------------------------------------------------------


def test_every_operation_has_a_success_example_and_a_request_example_when_it_takes_a_body(
    openapi: dict[str, Any],
) -> None:
    missing = []
    for _, _, operation in operations(openapi):
        if "requestBody" in operation and not _examples(operation["requestBody"]["content"]):
            missing.append((operation["operationId"], "request"))
        responses = _success(operation).values()
        if not any(_examples(response.get("content", {})) for response in responses):
            missing.append((operation["operationId"], "response"))
    assert missing == []


def test_every_example_validates_against_the_schema_of_its_own_request_or_response(openapi: dict[str, Any]) -> None:
    wrong = []
    for _, _, operation in operations(openapi):
        bodies = [("request", operation.get("requestBody", {}).get("content", {}))]
        bodies += [(code, response.get("content", {})) for code, response in _success(operation).items()]
        for where, content in bodies:
            for media_type, value, schema in _examples(content):
                try:
                    validate(openapi, schema, value)
                except jsonschema.ValidationError as error:
                    wrong.append((operation["operationId"], where, media_type, error.message[:200]))
    assert wrong == []


def test_the_validation_of_examples_refuses_a_made_up_field_and_an_instant_without_offset(
    openapi: dict[str, Any],
) -> None:
    patient = {"$ref": "#/components/schemas/Patient"}
    example = openapi["paths"]["/api/v1/patients/{id}/"]["get"]["responses"]["200"]["content"]["application/json"]
    value = next(iter(example["examples"].values()))["value"]
    validate(openapi, patient, value)
    with pytest.raises(jsonschema.ValidationError):
        validate(openapi, patient, {**value, "nickname": "Rob"})
    with pytest.raises(jsonschema.ValidationError):
        validate(openapi, patient, {**value, "created_at": "2026-09-01T14:05:00"})


# -- errors -------------------------------------------------------------------------------------------


def test_every_operation_documents_both_401_codes_and_a_429_with_retry_after(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    assert set(schemas["ErrorCode401Enum"]["enum"]) == {"not_authenticated", "invalid_token"}
    for _, _, operation in api_operations(openapi):
        unauthorized = operation["responses"]["401"]["content"]["application/json"]["schema"]["$ref"]
        error = schemas[unauthorized.rsplit("/", 1)[1]]["properties"]["errors"]["items"]["$ref"]
        code = schemas[error.rsplit("/", 1)[1]]["properties"]["code"]
        assert code == {"$ref": "#/components/schemas/ErrorCode401Enum"}, operation["operationId"]
    for _, _, operation in operations(openapi):
        throttled = operation["responses"].get("429")
        assert throttled is not None, operation["operationId"]
        assert throttled["headers"]["Retry-After"]["required"] is True


# -- scopes -------------------------------------------------------------------------------------------


def _call(api: APIClient, path: str, method: str) -> Any:
    url = path.replace("{patient_id}", str(uuid.uuid4())).replace(
        "{id}", "no_contact" if "risk-rules" in path else str(uuid.uuid4())
    )
    return getattr(api, method)(url, {}, format="json") if method != "get" else api.get(url)


def test_each_operation_needs_exactly_the_scopes_it_documents(
    openapi: dict[str, Any], ehr_a: Persona, make_client: Any
) -> None:
    """A client holding every scope but the documented ones is refused (403); one holding just
    those is let through (whatever the random id or the empty body then gets: 400 or 404)."""
    clients: dict[frozenset[str], APIClient] = {}

    def client(scopes: frozenset[str]) -> APIClient:
        if scopes not in clients:
            clients[scopes] = make_client(ehr_a.clinic, sorted(scopes)).api
        return clients[scopes]

    wrong = []
    for path, method, operation in api_operations(openapi):
        documented = frozenset(operation["security"][0]["oauth2"])
        assert documented, operation["operationId"]
        without = _call(client(frozenset(SCOPES) - documented), path, method)
        with_them = _call(client(documented), path, method)
        if without.status_code != 403 or with_them.status_code == 403:
            wrong.append((operation["operationId"], sorted(documented), without.status_code, with_them.status_code))
    assert wrong == []


def test_risk_rules_are_tuned_with_rules_write(openapi: dict[str, Any]) -> None:
    operation = openapi["paths"]["/api/v1/risk-rules/{id}/"]["patch"]
    assert operation["security"][0] == {"oauth2": ["rules:write"]}
    assert "rules:write" in openapi["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["scopes"]


# -- the token endpoint --------------------------------------------------------------------------------


@pytest.fixture
def credentials(clinic_a: Any) -> dict[str, str]:
    from clinic.services.integration import integration_client_create

    created = integration_client_create(clinic=clinic_a, name="Docs EHR", scopes=["patients:read"])
    return {"client_id": created.client.application.client_id, "client_secret": created.client_secret}


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"grant_type": "client_credentials"}, 200, None),
        ({"grant_type": "client_credentials", "scope": "patients:read"}, 200, None),
        ({"grant_type": "client_credentials", "scope": "patients:write"}, 400, "invalid_scope"),
        ({"grant_type": "client_credentials", "client_secret": "wrong"}, 401, "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": "nobody"}, 401, "invalid_client"),
        ({}, 400, "unsupported_grant_type"),
        ({"grant_type": "implicit"}, 400, "unsupported_grant_type"),
        (
            {"grant_type": "authorization_code", "code": "x", "redirect_uri": "https://x.invalid/"},
            400,
            "unauthorized_client",
        ),
        ({"grant_type": "refresh_token", "refresh_token": "x"}, 400, "invalid_grant"),
    ],
)
def test_the_token_endpoint_answers_as_its_schema_says(
    openapi: dict[str, Any], credentials: dict[str, str], form: dict[str, str], status: int, error: str | None
) -> None:
    body = "&".join(f"{key}={value}" for key, value in {**credentials, **form}.items())
    response = APIClient().post(TOKEN_PATH, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == status, response.content
    documented = openapi["paths"][TOKEN_PATH]["post"]["responses"][str(status)]
    validate(openapi, documented["content"]["application/json"]["schema"], response.json())
    assert "no-store" in response["Cache-Control"]
    if error is not None:
        assert response.json()["error"] == error


def test_the_token_endpoint_is_documented_as_rfc_6749_says(openapi: dict[str, Any]) -> None:
    operation = openapi["paths"][TOKEN_PATH]["post"]
    assert operation["operationId"] == "access_token_create"
    assert "application/x-www-form-urlencoded" in operation["requestBody"]["content"]
    assert {"200", "400", "401", "429"} <= set(operation["responses"])
    schemas = openapi["components"]["schemas"]
    assert set(schemas["TokenError400"]["properties"]["error"]["enum"]) == {
        "invalid_request",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    }
    assert schemas["TokenError401"]["properties"]["error"]["enum"] == ["invalid_client"]


# -- patterns ------------------------------------------------------------------------------------------


def _pattern(openapi: dict[str, Any], component: str, field: str) -> str:
    schema = openapi["components"]["schemas"][component]["properties"][field]
    for alternative in [schema, *schema.get("oneOf", [])]:
        if "pattern" in alternative:
            return str(alternative["pattern"])
    raise AssertionError(f"{component}.{field} has no pattern")


PHONES = ["+1 555-0100", "(555) 010-0199", "555.010.0199", "555", "12-34", "call me", "555-0100 x2", "+44 20 7946 0958"]


@pytest.mark.parametrize("phone", PHONES)
def test_the_patient_phone_pattern_is_what_the_server_accepts(
    openapi: dict[str, Any], ehr_a: Persona, phone: str
) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    response = ehr_a.api.patch(f"/api/v1/patients/{patient.pk}/", {"phone": phone}, format="json")
    matches = re.search(_pattern(openapi, "PatchedPatientRequest", "phone"), phone) is not None
    assert (response.status_code == 200) == matches, (phone, response.json())


@pytest.mark.parametrize("phone", PHONES)
def test_a_plan_contact_phone_pattern_is_what_the_server_accepts(
    openapi: dict[str, Any], ehr_a: Persona, phone: str
) -> None:
    from tests.aftercare.factories import PlanFactory

    plan = PlanFactory.create(patient=PatientFactory.create(clinic=ehr_a.clinic))
    body = {"sponsor": {"name": "Jordan Sample", "phone": phone}}
    response = ehr_a.api.patch(f"/api/v1/plans/{plan.pk}/", body, format="json")
    matches = re.search(_pattern(openapi, "SponsorRequest", "phone"), phone) is not None
    assert (response.status_code == 200) == matches, (phone, response.json())


@pytest.mark.parametrize("key", ["a", "k" * 255, "k" * 256, "order 42/retry", "caf\u00e9", "tab\there", "nbsp\u00a0"])
def test_the_idempotency_key_schema_is_what_the_server_accepts(
    openapi: dict[str, Any], ehr_a: Persona, key: str
) -> None:
    post = openapi["paths"]["/api/v1/outside-meetings/"]["post"]
    schema = next(p["schema"] for p in post["parameters"] if p["name"] == "Idempotency-Key")
    documented = (
        schema["minLength"] <= len(key) <= schema["maxLength"] and re.search(schema["pattern"], key) is not None
    )
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    body = {"patient": str(patient.pk), "kind": "twelve_step", "date": "2026-11-22"}
    response = ehr_a.api.post("/api/v1/outside-meetings/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    refused = response.status_code == 400 and response.json()["errors"][0]["attr"] == "Idempotency-Key"
    assert refused != documented, (key, response.status_code)


def test_dates_and_instants_say_which_years_the_server_takes(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    assert "1900 to 2199" in schemas["PatientRequest"]["properties"]["date_of_birth"]["description"]
    assert "1900 to 2199" in schemas["AppointmentRequest"]["properties"]["starts_at"]["description"]
    assert "out_of_range" in schemas["AppointmentRequest"]["properties"]["starts_at"]["description"]


def test_caseload_says_integration_clients_must_name_the_clinician(openapi: dict[str, Any]) -> None:
    parameters = openapi["paths"]["/api/v1/dashboard/caseload/"]["get"]["parameters"]
    clinician = next(p for p in parameters if p["name"] == "clinician")
    assert "Required for integration clients" in clinician["description"]


def test_an_empty_string_is_not_an_id_as_the_schema_says(ehr_a: Persona) -> None:
    # Found by schemathesis from the examples: DRF reads "" as null for a related field (an empty
    # form select), while the schema says a UUID or null.
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    response = ehr_a.api.patch(f"/api/v1/patients/{patient.pk}/", {"assigned_clinician": ""}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "assigned_clinician"
    cleared = ehr_a.api.patch(f"/api/v1/patients/{patient.pk}/", {"assigned_clinician": None}, format="json")
    assert cleared.status_code == 200
