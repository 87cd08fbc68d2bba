"""Reads through a real streaming replica (DATABASE_REPLICA_URL naming a hot standby of
DATABASE_URL's server; .ci/run starts one): the dashboard and the access-log exports read it,
a request that wrote reads its writes from the primary, and so does the page after it until the
replica has replayed the write.

Lag is made, not waited for: the standby's replay is paused (`pg_wal_replay_pause()`), so a
read that reached it would miss every write made since.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest
from django.conf import settings
from django.db import connection, connections, transaction
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import path

from aftercare.models import FlagStatus, RiskFlag
from clinic.models import Clinic, Patient, Role, User
from clinic.replica import PIN_COOKIE, PRIMARY, REPLICA, reads_from_replica
from tests.aftercare.test_flags_api import flagged
from tests.conftest import Persona
from tests.factories import ClinicFactory, MembershipFactory, PatientFactory, verified_login

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        REPLICA not in settings.DATABASES,
        reason="integration: set DATABASE_REPLICA_URL to a streaming replica of DATABASE_URL's server (.ci/run does)",
    ),
    pytest.mark.django_db(transaction=True, databases=[PRIMARY, REPLICA]),
]


def _replayed(lsn: str) -> bool:
    with connections[REPLICA].cursor() as cursor:
        cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn])
        row = cursor.fetchone()
    return bool(row and row[0])


def caught_up(timeout: float = 30.0) -> None:
    """Returns once the replica has replayed everything the primary has written so far, the access
    log's asynchronous commits included (in WAL not yet flushed, so not yet sent)."""
    with connections[PRIMARY].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_insert_lsn()::text")
        (target,) = cursor.fetchone() or ("",)
    deadline = time.monotonic() + timeout
    while not _replayed(target):
        if time.monotonic() > deadline:
            raise AssertionError(f"the replica has not replayed {target} in {timeout} s")
        time.sleep(0.05)


@contextmanager
def replay_paused() -> Iterator[None]:
    """The replica frozen where the primary is now: it sees nothing written inside the block."""
    caught_up()
    with connections[REPLICA].cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute("SELECT pg_wal_replay_resume()")


@pytest.fixture
def clinic() -> Clinic:
    return ClinicFactory.create()


def signed_in(clinic: Clinic, role: str = Role.CLINICIAN) -> tuple[Client, User]:
    membership = MembershipFactory.create(clinic=clinic, role=role, user__is_staff=False)
    client = Client()
    verified_login(client, membership.user)
    return client, membership.user


def reads(table: str, queries: list[dict[str, Any]]) -> bool:
    """Whether one of `queries` is an ORM read of `table` (a server-side cursor's DECLARE included)."""
    return any(f'FROM "{table}"' in query["sql"] for query in queries)


# --- views of this module's own URLconf: a GET that writes, then reads ------------------------------


@reads_from_replica
def write_then_read(request: HttpRequest) -> JsonResponse:
    clinic = Clinic.objects.get(pk=request.GET["clinic"])
    before = Patient.objects.filter(clinic=clinic).count()
    PatientFactory.create(clinic=clinic)
    after = Patient.objects.filter(clinic=clinic).count()
    return JsonResponse({"before": before, "after": after})


@reads_from_replica
def raw_write_in_a_transaction_then_read(request: HttpRequest) -> JsonResponse:
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE clinic_patient SET family_name = 'Renamed' WHERE id = %s", [request.GET["patient"]])
        name = Patient.objects.get(pk=request.GET["patient"]).family_name
    return JsonResponse({"family_name": name})


urlpatterns = [
    path("write-then-read/", write_then_read),
    path("raw-write-then-read/", raw_write_in_a_transaction_then_read),
]


# --- the replica is real ----------------------------------------------------------------------------


def test_the_replica_is_a_hot_standby_that_replays_what_the_primary_writes(clinic: Clinic) -> None:
    with connections[REPLICA].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone() == (True,)
    with connections[PRIMARY].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone() == (False,)
    patient = PatientFactory.create(clinic=clinic)
    caught_up()
    assert Patient.objects.using(REPLICA).filter(pk=patient.pk).exists()


# --- the dashboard and the exports read the replica -------------------------------------------------


def test_a_dashboard_page_reads_the_replica(clinic: Clinic) -> None:
    client, _ = signed_in(clinic)
    shown = PatientFactory.create(clinic=clinic, family_name="Replicated")
    with replay_paused():
        PatientFactory.create(clinic=clinic, family_name="Unreplayed")
        with CaptureQueriesContext(connections[REPLICA]) as on_replica, CaptureQueriesContext(connection) as on_primary:
            response = client.get("/patients/")

    assert response.status_code == 200
    page = response.content.decode()
    assert shown.family_name in page
    assert "Unreplayed" not in page  # written after the replica's replay stopped: it was the replica
    assert reads("clinic_patient", on_replica.captured_queries)
    assert not reads("clinic_patient", on_primary.captured_queries)
    # Who is signed in, and as what, is read where it is written.
    assert reads("django_session", on_primary.captured_queries)
    assert reads("clinic_staffmembership", on_primary.captured_queries)
    assert not reads("django_session", on_replica.captured_queries)


def test_the_caseload_page_ranks_on_the_replica(clinic: Clinic) -> None:
    """The ranking runs in a transaction of its own (planner settings, `hashed_ranking`): opened on
    the replica, not the primary, whose open transaction would send every later read there."""
    client, user = signed_in(clinic)
    shown = PatientFactory.create(clinic=clinic, family_name="Replicated", assigned_clinician=user)
    with replay_paused():
        PatientFactory.create(clinic=clinic, family_name="Unreplayed", assigned_clinician=user)
        with CaptureQueriesContext(connections[REPLICA]) as on_replica, CaptureQueriesContext(connection) as on_primary:
            response = client.get("/caseload/")

    assert response.status_code == 200
    page = response.content.decode()
    assert shown.family_name in page
    assert "Unreplayed" not in page
    assert reads("clinic_patient", on_replica.captured_queries)
    assert not reads("clinic_patient", on_primary.captured_queries)


def test_both_access_log_exports_read_the_replica_and_the_api_list_the_primary(
    clinic: Clinic, make_client: Any
) -> None:
    client, _ = signed_in(clinic, Role.ADMIN)
    auditor: Persona = make_client(clinic, ["audit:read"])
    assert client.get("/patients/").status_code == 200  # an event to export
    caught_up()

    for fetch in (
        lambda: client.get("/access-log/export.csv"),
        lambda: auditor.api.get("/api/v1/access-events/export/"),
    ):
        with CaptureQueriesContext(connections[REPLICA]) as on_replica, CaptureQueriesContext(connection) as on_primary:
            response = fetch()
            assert isinstance(response, StreamingHttpResponse)
            body = b"".join(cast(Iterator[bytes], response.streaming_content)).decode()  # read while streaming
        assert response.status_code == 200
        assert body.count("\n") >= 2, body  # the header and at least the page view above
        assert reads("clinic_accessevent", on_replica.captured_queries)
        assert not reads("clinic_accessevent", on_primary.captured_queries)

    with CaptureQueriesContext(connections[REPLICA]) as on_replica:
        assert auditor.api.get("/api/v1/access-events/").status_code == 200
    assert on_replica.captured_queries == []


def test_a_page_whose_replica_does_not_answer_reads_the_primary(
    clinic: Clinic, caplog: pytest.LogCaptureFixture
) -> None:
    client, _ = signed_in(clinic)
    PatientFactory.create(clinic=clinic, family_name="Primary")
    replica = connections[REPLICA]
    replica.close()
    port = replica.settings_dict["PORT"]
    replica.settings_dict["PORT"] = 1  # nothing listens there: the connection is refused
    try:
        response = client.get("/patients/")
    finally:
        replica.close()
        replica.settings_dict["PORT"] = port
    assert response.status_code == 200
    assert "Primary" in response.content.decode()
    assert "replica: unreachable, reading the primary (OperationalError)" in caplog.text


# --- read-your-writes --------------------------------------------------------------------------------


@pytest.mark.urls(__name__)
def test_a_request_that_wrote_reads_its_write_from_the_primary(clinic: Clinic) -> None:
    client, _ = signed_in(clinic)
    with replay_paused(), CaptureQueriesContext(connections[REPLICA]) as on_replica:
        response = client.get("/write-then-read/", {"clinic": str(clinic.pk)})
    assert response.json() == {"before": 0, "after": 1}
    assert reads("clinic_patient", on_replica.captured_queries)  # the read before the write
    assert len([query for query in on_replica.captured_queries if "clinic_patient" in query["sql"]]) == 1


@pytest.mark.urls(__name__)
def test_a_request_inside_a_transaction_reads_the_primary_even_after_raw_sql(clinic: Clinic) -> None:
    client, _ = signed_in(clinic)
    patient = PatientFactory.create(clinic=clinic, family_name="Before")
    with replay_paused():
        response = client.get("/raw-write-then-read/", {"patient": str(patient.pk)})
    assert response.json() == {"family_name": "Renamed"}


def test_after_a_post_the_next_pages_read_the_primary_until_the_replica_has_replayed_it(clinic: Clinic) -> None:
    client, user = signed_in(clinic)
    flag = flagged(clinic, clinician=user)
    page = f"/flags/{flag.pk}/"
    with replay_paused():
        with CaptureQueriesContext(connections[REPLICA]) as on_replica:
            response = client.post(f"{page}close/", {"close-note": "Back at group", "action": "resolve"})
        assert on_replica.captured_queries == []  # a POST reads what it decides on from the primary
        assert response.status_code == 302
        assert response["Location"] == page
        pin = response.cookies[PIN_COOKIE]
        assert pin["httponly"]
        assert RiskFlag.objects.get(pk=flag.pk).status == FlagStatus.RESOLVED

        # The replica has not replayed the resolution: the page after the redirect reads the primary.
        with CaptureQueriesContext(connections[REPLICA]) as on_replica:
            after = client.get(page)
        assert "Back at group" in after.content.decode()
        # All the replica was asked is how far it has replayed.
        assert [query["sql"].split("(")[0] for query in on_replica.captured_queries] == ["SELECT coalesce"]
        assert PIN_COOKIE not in after.cookies  # still pinned

    caught_up()
    with CaptureQueriesContext(connections[REPLICA]) as on_replica:
        later = client.get(page)
    assert "Back at group" in later.content.decode()
    assert reads("aftercare_riskflag", on_replica.captured_queries)
    assert later.cookies[PIN_COOKIE]["max-age"] == 0  # replayed: the pin is dropped
