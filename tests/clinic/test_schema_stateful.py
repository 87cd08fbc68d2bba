"""Schemathesis' stateful phase: workflows that chain operations through the links it infers from
the schema (a patient created, then read, changed, given a plan, booked, ...), with every check
on, every response (error bodies included) validated against the schema."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from tests.conftest import Persona


def _load_schema() -> Any:
    from clinic.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


schema = _load_schema()
_bearer: dict[str, str] = {}


@schema.auth()
class IntegrationClientToken:
    """The test's integration client. Registered as the schema's auth, so that schemathesis knows
    which credentials are real and can also try the operations without them (they must be 401)."""

    def get(self, case: Any, ctx: Any) -> str:
        return _bearer["token"]

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": data}


def test_chained_workflows_answer_as_the_schema_says(ehr_a: Persona, keep_test_connection_open: None) -> None:
    _bearer["token"] = ehr_a.api._credentials["HTTP_AUTHORIZATION"]  # type: ignore[attr-defined]

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            # Every check but two. `ignored_auth` probes by stripping the credentials the schema
            # declares as API keys or HTTP auth (the staff session cookie here), and cannot strip an
            # OAuth2 bearer token, so its probe still carries a valid token and would report the
            # 200 as "accepts requests without authentication": refusing callers without (or with
            # a bad) token is tested route by route in test_schema_and_routes.py. And
            # `positive_data_acceptance` expects every schema-valid body to be accepted, while some
            # rules cannot be written in a schema (the patient named must exist in this clinic, a
            # discharge needs its date): those answer a documented 400, which is checked.
            excluded = [ignored_auth, positive_data_acceptance]
            case.validate_response(response, excluded_checks=excluded, transport_kwargs=kwargs or None)

    Workflow.run(
        settings=settings(
            max_examples=20,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            # Generate only: a scenario runs against the database the earlier ones left behind,
            # so replaying one to shrink it cannot draw the same steps, and hypothesis would report
            # that instead of the failure it found.
            phases=[Phase.generate],
        )
    )
