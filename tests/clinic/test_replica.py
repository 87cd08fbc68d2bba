"""The read replica's routing rules (clinic/replica.py), without a replica: which alias each read
and write is sent to, in and out of a request; and the settings that install it only when
DATABASE_REPLICA_URL is set. tests/integration/test_replica.py runs the same rules against a real
streaming replica."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any, cast

import pytest
from django.contrib.sessions.models import Session
from django.db import transaction
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.test import RequestFactory
from django.urls import resolve
from django_otp.plugins.otp_totp.models import TOTPDevice
from oauth2_provider.models import AccessToken

from aftercare.models import RiskFlag
from clinic.models import AccessEvent, Clinic, IntegrationClient, Patient, StaffMembership, User
from clinic.replica import (
    PIN_COOKIE,
    PRIMARY,
    REPLICA,
    ReplicaMiddleware,
    ReplicaRouter,
    RequestReads,
    current,
    marked,
    reads_from_replica,
    request_scope,
)
from tests.clinic.test_settings import BASE, ROOT, values

router = ReplicaRouter()


def view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("")


@reads_from_replica
def marked_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("")


@pytest.fixture
def in_a_page() -> Iterator[RequestReads]:
    """The scope of a GET whose view may read the replica; the test body plays the view."""
    with request_scope(RequestReads(replica=True)) as state:
        yield state


def test_outside_any_request_everything_reads_and_writes_the_primary() -> None:
    # Celery tasks, commands, threads a request started: no scope.
    assert current() is None
    assert router.db_for_read(Patient) == PRIMARY
    assert router.db_for_write(Patient) == PRIMARY


def test_in_a_page_that_may_read_the_replica_reads_go_there(in_a_page: RequestReads) -> None:
    for model in (Patient, RiskFlag, AccessEvent, Clinic):
        assert router.db_for_read(model) == REPLICA


@pytest.mark.parametrize("model", [Session, User, StaffMembership, IntegrationClient, TOTPDevice, AccessToken])
def test_who_is_signed_in_and_what_they_may_do_is_always_read_from_the_primary(
    in_a_page: RequestReads, model: Any
) -> None:
    assert router.db_for_read(model) == PRIMARY


def test_after_a_write_every_read_of_the_request_goes_to_the_primary(in_a_page: RequestReads) -> None:
    assert router.db_for_read(Patient) == REPLICA
    assert router.db_for_write(RiskFlag) == PRIMARY
    assert in_a_page.wrote
    assert router.db_for_read(Patient) == PRIMARY
    assert router.db_for_read(AccessEvent) == PRIMARY


def test_a_session_or_sign_in_write_does_not_take_the_page_off_the_replica(in_a_page: RequestReads) -> None:
    # Those models are read from the primary anyway: writing them changes nothing the replica serves.
    for model in (Session, User, TOTPDevice):
        assert router.db_for_write(model) == PRIMARY
    assert not in_a_page.wrote
    assert router.db_for_read(Patient) == REPLICA


def test_inside_a_transaction_on_the_primary_reads_go_to_the_primary(
    transactional_db: None, in_a_page: RequestReads
) -> None:
    assert router.db_for_read(Patient) == REPLICA
    with transaction.atomic():
        # Raw SQL in a transaction is invisible to the router: the open transaction is what it sees.
        assert router.db_for_read(Patient) == PRIMARY
    assert in_a_page.wrote
    assert router.db_for_read(Patient) == PRIMARY


def test_a_thread_started_by_a_request_reads_the_primary(in_a_page: RequestReads) -> None:
    seen: list[str] = []
    thread = threading.Thread(target=lambda: seen.append(router.db_for_read(Patient)))
    thread.start()
    thread.join()
    assert seen == [PRIMARY]
    assert router.db_for_read(Patient) == REPLICA


def test_migrations_never_run_on_the_replica() -> None:
    assert router.allow_migrate(REPLICA, "clinic") is False
    assert router.allow_migrate(REPLICA, "aftercare", "riskflag") is False
    assert router.allow_migrate(PRIMARY, "clinic") is None


def test_objects_of_the_primary_and_the_replica_may_be_related() -> None:
    patient, clinic = Patient(), Clinic()
    patient._state.db, clinic._state.db = REPLICA, PRIMARY
    assert router.allow_relation(patient, clinic) is True


# --- which views may read the replica ----------------------------------------------------------------


def test_the_dashboards_pages_and_both_exports_are_marked_and_the_api_is_not() -> None:
    assert marked(resolve("/patients/").func, "GET")
    assert marked(resolve("/flags/").func, "GET")
    assert marked(resolve("/access-log/export.csv").func, "GET")
    assert marked(resolve("/api/v1/access-events/export/").func, "GET")
    assert marked(resolve("/api/v1/access-events/export/").func, "HEAD")
    assert not marked(resolve("/api/v1/access-events/").func, "GET")
    assert not marked(resolve("/api/v1/patients/").func, "GET")
    assert not marked(resolve("/sign-in/").func, "GET")


def test_a_view_class_is_marked_as_a_whole() -> None:
    from django.views import View

    @reads_from_replica
    class Page(View):
        pass

    assert marked(Page.as_view(), "GET")


@pytest.fixture
def replica_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests have no replica server: it is taken to answer (tests/integration has a real one)."""
    monkeypatch.setattr("clinic.replica.replica_reachable", lambda: True)


def _decide(method: str, *, cookie: str | None = None, target: Any = None) -> RequestReads:
    """Run a request through the middleware; the state its view saw."""
    seen: list[RequestReads] = []
    target = target or marked_view

    def get_response(request: HttpRequest) -> HttpResponse:
        middleware.process_view(request, target, (), {})
        state = current()
        assert state is not None
        seen.append(state)
        return HttpResponse("")

    middleware = ReplicaMiddleware(get_response)
    factory = RequestFactory()
    if cookie is not None:
        factory.cookies[PIN_COOKIE] = cookie
    middleware(factory.generic(method, "/page/"))
    return seen[0]


@pytest.mark.usefixtures("replica_answers")
def test_a_get_of_a_marked_view_reads_the_replica_and_a_post_never() -> None:
    assert _decide("GET").replica
    assert _decide("HEAD").replica
    assert not _decide("POST").replica
    assert not _decide("GET", target=view).replica


@pytest.mark.usefixtures("replica_answers")
def test_a_pin_that_is_no_wal_position_is_dropped_without_a_query(db: None, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):
        state = _decide("GET", cookie="'; DROP TABLE clinic_patient; --")
    assert state.replica
    assert state.unpin


@pytest.mark.usefixtures("replica_answers")
def test_a_streamed_answer_is_produced_inside_its_requests_scope() -> None:
    """An export's rows are read while the response streams, after the middleware returned."""

    def rows() -> Iterator[str]:
        state = current()
        yield "replica" if state is not None and state.replica else "primary"

    def get_response(request: HttpRequest) -> StreamingHttpResponse:
        middleware.process_view(request, marked_view, (), {})
        return StreamingHttpResponse(rows())

    middleware = ReplicaMiddleware(get_response)
    response = middleware(RequestFactory().get("/export/"))
    assert current() is None
    assert isinstance(response, StreamingHttpResponse)
    assert b"".join(cast(Iterator[bytes], response.streaming_content)) == b"replica"
    assert current() is None


# --- settings -------------------------------------------------------------------------------------------

NAMES = ("DATABASES", "DATABASE_ROUTERS", "MIDDLEWARE")


@pytest.mark.parametrize("unset", [{}, {"DATABASE_REPLICA_URL": ""}])
def test_without_a_replica_url_nothing_is_installed(unset: dict[str, str]) -> None:
    got = values({**BASE, **unset}, *NAMES)
    assert "'replica'" not in got["DATABASES"]
    assert got["DATABASE_ROUTERS"] in {"None", "[]"}
    assert "clinic.replica" not in got["MIDDLEWARE"]


def test_a_replica_url_adds_a_read_only_mirror_the_router_and_the_middleware() -> None:
    shown = (
        "import json, clinic.settings as s; r = s.DATABASES['replica'];"
        "print(json.dumps([r['HOST'], r['PORT'], r['NAME'], r['TEST'], r['OPTIONS'], s.DATABASE_ROUTERS,"
        " s.MIDDLEWARE.index('clinic.replica.ReplicaMiddleware') + 1"
        " == s.MIDDLEWARE.index('django.contrib.sessions.middleware.SessionMiddleware')]))"
    )
    env = {**BASE, "DATABASE_REPLICA_URL": "postgres://reader@replica.internal:5433/aftercare"}
    result = subprocess.run(
        [sys.executable, "-c", shown], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    host, port, name, test, options, routers, before_sessions = json.loads(result.stdout)
    assert (host, port, name) == ("replica.internal", 5433, "aftercare")
    assert test == {"MIRROR": "default"}
    assert "default_transaction_read_only=on" in options["options"]
    assert routers == ["clinic.replica.ReplicaRouter"]
    assert before_sessions
