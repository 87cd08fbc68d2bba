"""Fixtures every test package shares: personas, API clients, integration-test gating."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core import signals
from django.db import close_old_connections
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient

from clinic.auth.scopes import SCOPES
from clinic.models import Clinic, IntegrationClient, Role, User
from tests import phi
from tests.factories import (
    ClinicFactory,
    MembershipFactory,
    UserFactory,
    access_token,
    integration_client,
    verified_login,
)

ROOT = Path(__file__).resolve().parent.parent

# Hypothesis: CI runs the same examples every time (a red CI must be reproducible); developers
# explore new ones on every run, and HYPOTHESIS_PROFILE=explore digs deeper.
hypothesis_settings.register_profile("dev", max_examples=40)
hypothesis_settings.register_profile("ci", max_examples=40, derandomize=True, print_blob=True)
hypothesis_settings.register_profile("explore", max_examples=600)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))
BROKERS_VARIABLE = "AFTERCARE_TEST_BROKER_URLS"
CACHE_VARIABLE = "AFTERCARE_TEST_CACHE_URL"


def _schema_fingerprint() -> str:
    """Changes whenever a migration or a dependency changes, so --reuse-db never serves a stale schema."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    for path in sorted(ROOT.glob("*/migrations/*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


@pytest.fixture(scope="session")
def django_db_modify_db_settings() -> None:
    from django.conf import settings

    default = settings.DATABASES["default"]
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    default.setdefault("TEST", {})["NAME"] = f"test_{default['NAME']}_{_schema_fingerprint()}{worker}"


def pytest_configure(config: pytest.Config) -> None:
    phi.start_recording()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Issue 6: no PHI from the fixtures in any log line captured during the whole suite."""
    leaks = phi.leaks()
    if leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        for value, line in leaks[:20]:
            message = f"PHI in a log line ({value!r}): {line[:300]}"
            if reporter is not None:
                reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(BROKERS_VARIABLE):
        return
    skip = pytest.mark.skip(
        reason=(
            f"integration: set {BROKERS_VARIABLE} to broker URLs (e.g. "
            "'amqp://guest:guest@127.0.0.1:5672// redis://127.0.0.1:6379/15') and "
            f"{CACHE_VARIABLE} to a Redis URL (e.g. redis://127.0.0.1:6379/13) to run against real services"
        )
    )
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """PBKDF2's million rounds would dominate the suite; hashing itself is Django's, not ours, to test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache(settings: Any) -> None:
    """Every test starts with an empty cache of its own process (rate-limit counters included)."""
    from django.core.cache import cache

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tests"}}
    cache.clear()


@dataclass
class Persona:
    """Someone calling the API: a staff member (session) or an integration client (bearer token)."""

    clinic: Clinic
    api: APIClient
    user: User | None = None
    client: IntegrationClient | None = None


@pytest.fixture
def clinic_a(db: None) -> Clinic:
    return ClinicFactory.create(slug="clinic-a", name="Clinic A")


@pytest.fixture
def clinic_b(db: None) -> Clinic:
    return ClinicFactory.create(slug="clinic-b", name="Clinic B", time_zone="America/New_York")


@pytest.fixture
def make_staff(db: None) -> Callable[..., Persona]:
    def make(clinic: Clinic, role: str = Role.CLINICIAN, **user_fields: Any) -> Persona:
        membership = MembershipFactory.create(clinic=clinic, role=role, user=UserFactory.create(**user_fields))
        api = APIClient()
        verified_login(api, membership.user)
        return Persona(clinic=clinic, api=api, user=membership.user)

    return make


@pytest.fixture
def make_client(db: None) -> Callable[..., Persona]:
    def make(clinic: Clinic, scopes: list[str] | tuple[str, ...] = tuple(SCOPES)) -> Persona:
        client = integration_client(clinic, scopes)
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token(client)}")
        return Persona(clinic=clinic, api=api, client=client)

    return make


@pytest.fixture
def clinician_a(clinic_a: Clinic, make_staff: Callable[..., Persona]) -> Persona:
    return make_staff(clinic_a, Role.CLINICIAN)


@pytest.fixture
def clinician_b(clinic_b: Clinic, make_staff: Callable[..., Persona]) -> Persona:
    return make_staff(clinic_b, Role.CLINICIAN)


@pytest.fixture
def front_desk_a(clinic_a: Clinic, make_staff: Callable[..., Persona]) -> Persona:
    return make_staff(clinic_a, Role.FRONT_DESK)


@pytest.fixture
def auditor_a(clinic_a: Clinic, make_staff: Callable[..., Persona]) -> Persona:
    return make_staff(clinic_a, Role.AUDITOR)


@pytest.fixture
def ehr_a(clinic_a: Clinic, make_client: Callable[..., Persona]) -> Persona:
    """Clinic A's integration client with every scope."""
    return make_client(clinic_a)


@pytest.fixture
def ehr_b(clinic_b: Clinic, make_client: Callable[..., Persona]) -> Persona:
    """Clinic B's integration client with every scope."""
    return make_client(clinic_b)


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


@pytest.fixture(autouse=True)
def _tasks_run_in_process(request: pytest.FixtureRequest) -> None:
    """Tasks queued by the code under test (`delay`, `delay_on_commit`) run in the test's process;
    the integration tests send theirs to real workers instead."""
    from tasks.celery import app

    eager = request.node.get_closest_marker("integration") is None
    app.conf.task_always_eager = eager
    app.conf.task_eager_propagates = eager


@pytest.fixture
def keep_test_connection_open(db: None) -> Iterator[None]:
    """For tests that call the WSGI application directly (schemathesis, a generated client), as
    Django's test client does: a request must not close the test's database connection."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def openapi(db: None) -> dict[str, Any]:
    """The published schema, as a client fetches it."""
    document: dict[str, Any] = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    return document


def resolve_schema(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A schema with its `$ref`s followed to the component they name."""
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema
