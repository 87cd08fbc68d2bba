"""Rate limits: every caller has a bucket of their own, a throttled call is a 429 in the API's
error shape with `Retry-After`, the limit lifts when its window ends, and counting costs no query."""

from __future__ import annotations

import base64
import datetime
import logging
import math
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from oauth2_provider.models import AccessToken
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from clinic.api.throttling import IntegrationClientThrottle, StaffThrottle
from clinic.models import Clinic
from clinic.services.integration import integration_client_create
from tests.clinic.test_settings import BASE, ROOT, settings_with, values
from tests.conftest import Persona
from tests.factories import MembershipFactory, UserFactory, access_token

LIST = "/api/v1/patients/"


@pytest.fixture
def at_15_seconds_past_the_hour() -> Iterator[time_machine.Traveller]:
    """Frozen 15 s past the start of the current hour (in the past, so tokens made for the test are
    valid): a one-minute window then has 45 s left, a one-hour window 3585 s."""
    start = math.floor(time.time() / 3600) * 3600 + 15
    with time_machine.travel(datetime.datetime.fromtimestamp(start, tz=datetime.UTC), tick=False) as traveller:
        yield traveller


def calls(persona: Persona, n: int) -> list[int]:
    return [persona.api.get(LIST).status_code for _ in range(n)]


def assert_throttled(response: Any, retry_after: int) -> None:
    assert response.status_code == 429
    assert response["Retry-After"] == str(retry_after)
    body = response.json()
    assert body["type"] == "client_error"
    assert [(e["code"], e["attr"]) for e in body["errors"]] == [("throttled", None)]
    assert f"available in {retry_after} second" in body["errors"][0]["detail"]


def test_a_client_over_its_rate_gets_429_with_retry_after_in_the_error_shape(
    ehr_a: Persona, settings: Any, at_15_seconds_past_the_hour: Any
) -> None:
    settings.AFTERCARE_THROTTLE_CLIENT_RATE = "3/min"
    assert calls(ehr_a, 3) == [200, 200, 200]
    assert_throttled(ehr_a.api.get(LIST), retry_after=45)
    # Every method counts, and a throttled write never reaches the view.
    assert_throttled(ehr_a.api.post(LIST, {}, format="json"), retry_after=45)


def test_another_client_and_another_clinics_client_keep_their_own_buckets(
    ehr_a: Persona, ehr_b: Persona, make_client: Callable[..., Persona], settings: Any, at_15_seconds_past_the_hour: Any
) -> None:
    settings.AFTERCARE_THROTTLE_CLIENT_RATE = "2/min"
    second_a = make_client(ehr_a.clinic)
    assert calls(ehr_a, 3) == [200, 200, 429]
    assert calls(second_a, 3) == [200, 200, 429]
    assert calls(ehr_b, 3) == [200, 200, 429]


def test_a_client_keeps_its_bucket_across_its_tokens(
    ehr_a: Persona, settings: Any, at_15_seconds_past_the_hour: Any
) -> None:
    settings.AFTERCARE_THROTTLE_CLIENT_RATE = "2/min"
    assert calls(ehr_a, 2) == [200, 200]
    assert ehr_a.client is not None
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token(ehr_a.client)}")
    assert fresh.get(LIST).status_code == 429


def test_staff_members_have_buckets_of_their_own_at_the_staff_rate(
    ehr_a: Persona,
    make_staff: Callable[..., Persona],
    clinic_a: Clinic,
    settings: Any,
    at_15_seconds_past_the_hour: Any,
) -> None:
    settings.AFTERCARE_THROTTLE_CLIENT_RATE = "2/min"
    settings.AFTERCARE_THROTTLE_STAFF_RATE = "4/min"
    alice, bob = make_staff(clinic_a), make_staff(clinic_a)
    assert calls(ehr_a, 3) == [200, 200, 429]
    assert calls(alice, 5) == [200, 200, 200, 200, 429]
    assert_throttled(alice.api.get(LIST), retry_after=45)
    assert calls(bob, 4) == [200, 200, 200, 200]


def test_a_staff_member_of_two_clinics_has_one_bucket(
    make_staff: Callable[..., Persona],
    clinic_a: Clinic,
    clinic_b: Clinic,
    settings: Any,
    at_15_seconds_past_the_hour: Any,
) -> None:
    settings.AFTERCARE_THROTTLE_STAFF_RATE = "2/min"
    alice = make_staff(clinic_a)
    MembershipFactory.create(user=alice.user, clinic=clinic_b)
    assert alice.api.get(LIST, HTTP_X_CLINIC=clinic_a.slug).status_code == 200
    assert alice.api.get(LIST, HTTP_X_CLINIC=clinic_b.slug).status_code == 200
    assert alice.api.get(LIST, HTTP_X_CLINIC=clinic_b.slug).status_code == 429


def test_the_limit_lifts_when_its_window_ends(
    ehr_a: Persona, settings: Any, at_15_seconds_past_the_hour: time_machine.Traveller
) -> None:
    settings.AFTERCARE_THROTTLE_CLIENT_RATE = "2/min"
    assert calls(ehr_a, 3) == [200, 200, 429]
    at_15_seconds_past_the_hour.shift(44)
    assert_throttled(ehr_a.api.get(LIST), retry_after=1)
    at_15_seconds_past_the_hour.shift(1)
    assert calls(ehr_a, 3) == [200, 200, 429]


def test_an_hourly_rate_counts_over_the_whole_hour(
    ehr_a: Persona, settings: Any, at_15_seconds_past_the_hour: time_machine.Traveller
) -> None:
    settings.AFTERCARE_THROTTLE_CLIENT_RATE = "2/hour"
    assert calls(ehr_a, 2) == [200, 200]
    at_15_seconds_past_the_hour.shift(60)
    assert_throttled(ehr_a.api.get(LIST), retry_after=3600 - 75)


def test_throttling_adds_no_query(ehr_a: Persona, clinician_a: Persona, monkeypatch: pytest.MonkeyPatch) -> None:
    def queries(persona: Persona) -> int:
        persona.api.get(LIST)  # the session's first request may save it
        with CaptureQueriesContext(connection) as captured:
            assert persona.api.get(LIST).status_code == 200
        return len(captured)

    with_throttling = queries(ehr_a), queries(clinician_a)
    monkeypatch.setattr(IntegrationClientThrottle, "allow_request", lambda self, request, view: True)
    monkeypatch.setattr(StaffThrottle, "allow_request", lambda self, request, view: True)
    assert (queries(ehr_a), queries(clinician_a)) == with_throttling


def test_the_throttle_names_the_caller_from_what_authentication_loaded(
    ehr_a: Persona, django_assert_num_queries: Any
) -> None:
    assert ehr_a.client is not None
    token = AccessToken.objects.get(application=ehr_a.client.application)
    user = UserFactory.create()
    with django_assert_num_queries(0):
        as_client = APIRequestFactory().get(LIST)
        force_authenticate(as_client, token=token)
        as_staff = APIRequestFactory().get(LIST)
        force_authenticate(as_staff, user=user)
        view = APIView()
        client_request, staff_request = view.initialize_request(as_client), view.initialize_request(as_staff)
        assert IntegrationClientThrottle().ident(client_request) == str(ehr_a.client.application_id)
        assert StaffThrottle().ident(client_request) is None
        assert StaffThrottle().ident(staff_request) == str(user.pk)
        assert IntegrationClientThrottle().ident(staff_request) is None


def test_anonymous_calls_are_refused_before_any_count(anonymous: APIClient, settings: Any) -> None:
    settings.AFTERCARE_THROTTLE_CLIENT_RATE = "1/min"
    settings.AFTERCARE_THROTTLE_STAFF_RATE = "1/min"
    assert [anonymous.get(LIST).status_code for _ in range(3)] == [401, 401, 401]
    assert [anonymous.get("/api/schema/").status_code for _ in range(3)] == [200, 200, 200]


def test_an_unreachable_cache_lets_calls_through_and_says_so(
    ehr_a: Persona, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # A real Redis client against a port where nothing listens.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    settings.AFTERCARE_THROTTLE_CLIENT_RATE = "1/min"
    with caplog.at_level(logging.WARNING, logger="clinic.api.throttling"):
        assert calls(ehr_a, 2) == [200, 200]
    assert "rate limit not applied: the cache failed (ConnectionError)" in caplog.text


def test_the_schema_documents_429_with_retry_after(db: None) -> None:
    document = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for operation in (document["paths"][LIST]["get"], document["paths"][LIST]["post"]):
        throttled = operation["responses"]["429"]
        assert throttled["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}
        assert throttled["headers"]["Retry-After"]["required"] is True


# --- The OAuth2 endpoints --------------------------------------------------------------------------


def credentials(clinic: Clinic, name: str) -> tuple[str, str]:
    created = integration_client_create(clinic=clinic, name=name, scopes=["patients:read"])
    return created.client_id, created.client_secret


def token_request(client_id: str, secret: str, ip: str = "192.0.2.1", *, basic: bool = False) -> Any:
    data = {"grant_type": "client_credentials"}
    extra: dict[str, Any] = {"REMOTE_ADDR": ip}
    if basic:
        extra["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    else:
        data |= {"client_id": client_id, "client_secret": secret}
    return APIClient().post("/o/token/", data, format="multipart", **extra)


@pytest.mark.parametrize("basic", [False, True], ids=["in-body", "http-basic"])
def test_the_token_endpoint_counts_attempts_per_client_id(
    clinic_a: Clinic, settings: Any, at_15_seconds_past_the_hour: Any, basic: bool
) -> None:
    settings.AFTERCARE_THROTTLE_TOKEN_RATE = "2/min"
    client_id, secret = credentials(clinic_a, "EHR")
    other_id, other_secret = credentials(clinic_a, "Scheduling")
    attempts = [token_request(client_id, "wrong", ip=f"192.0.2.{n}", basic=basic).status_code for n in (1, 2)]
    assert attempts == [401, 401]
    # The right secret from a third address: the client id's budget is spent.
    assert_throttled(token_request(client_id, secret, ip="192.0.2.3", basic=basic), retry_after=45)
    assert token_request(other_id, other_secret, ip="192.0.2.4", basic=basic).status_code == 200


def test_the_token_endpoint_counts_attempts_per_client_ip(
    clinic_a: Clinic, settings: Any, at_15_seconds_past_the_hour: Any
) -> None:
    settings.AFTERCARE_THROTTLE_TOKEN_RATE = "2/min"
    first, second, third = (credentials(clinic_a, name) for name in ("One", "Two", "Three"))
    assert token_request(*first, ip="198.51.100.7").status_code == 200
    assert token_request(*second, ip="198.51.100.7").status_code == 200
    assert_throttled(token_request(*third, ip="198.51.100.7"), retry_after=45)
    assert token_request(*third, ip="198.51.100.8").status_code == 200


def test_the_revocation_endpoint_shares_the_token_endpoints_budget(
    clinic_a: Clinic, settings: Any, at_15_seconds_past_the_hour: Any
) -> None:
    settings.AFTERCARE_THROTTLE_TOKEN_RATE = "2/min"
    client_id, secret = credentials(clinic_a, "EHR")
    token = token_request(client_id, secret).json()["access_token"]
    revoke = {"token": token, "client_id": client_id, "client_secret": secret}
    assert APIClient().post("/o/revoke_token/", revoke, format="multipart", REMOTE_ADDR="192.0.2.9").status_code == 200
    response = APIClient().post("/o/revoke_token/", revoke, format="multipart", REMOTE_ADDR="192.0.2.10")
    assert_throttled(response, retry_after=45)


def test_the_token_endpoint_counts_the_client_ip_behind_trusted_proxies(
    clinic_a: Clinic, settings: Any, at_15_seconds_past_the_hour: Any
) -> None:
    settings.AFTERCARE_THROTTLE_TOKEN_RATE = "1/min"
    settings.AXES_IPWARE_PROXY_COUNT = 1
    settings.AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
    one, two = credentials(clinic_a, "One"), credentials(clinic_a, "Two")

    def via_proxy(pair: tuple[str, str], client_ip: str) -> int:
        data = {"grant_type": "client_credentials", "client_id": pair[0], "client_secret": pair[1]}
        response = APIClient().post(
            "/o/token/", data, format="multipart", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=client_ip
        )
        return int(response.status_code)

    # Two clients behind the same proxy, from different client addresses: both get through.
    assert [via_proxy(one, "203.0.113.1"), via_proxy(two, "203.0.113.2")] == [200, 200]


# --- The settings that configure it ---------------------------------------------------------------


def test_the_rates_and_the_cache_come_from_the_environment() -> None:
    got = values(
        {
            **BASE,
            "AFTERCARE_THROTTLE_CLIENT_RATE": "100/hour",
            "AFTERCARE_THROTTLE_STAFF_RATE": "30/m",
            "AFTERCARE_THROTTLE_TOKEN_RATE": "5/min",
            "CACHE_URL": "redis://cache.internal:6379/2",
        },
        "AFTERCARE_THROTTLE_CLIENT_RATE",
        "AFTERCARE_THROTTLE_STAFF_RATE",
        "AFTERCARE_THROTTLE_TOKEN_RATE",
        "CACHES",
    )
    assert got["AFTERCARE_THROTTLE_CLIENT_RATE"] == "100/hour"
    assert got["AFTERCARE_THROTTLE_STAFF_RATE"] == "30/m"
    assert got["AFTERCARE_THROTTLE_TOKEN_RATE"] == "5/min"
    assert "'BACKEND': 'django.core.cache.backends.redis.RedisCache'" in got["CACHES"]
    assert "'LOCATION': 'redis://cache.internal:6379/2'" in got["CACHES"]


def test_without_a_cache_url_the_embedded_stack_counts_in_files_every_local_process_shares(tmp_path: Any) -> None:
    env = {key: value for key, value in BASE.items() if key != "CACHE_URL"}
    got = values({**env, "AFTERCARE_EMBEDDED": "true", "AFTERCARE_DATA_DIR": str(tmp_path)}, "CACHES")
    assert "django.core.cache.backends.filebased.FileBasedCache" in got["CACHES"]
    assert f"'LOCATION': '{tmp_path / 'cache'}'" in got["CACHES"]


@pytest.mark.parametrize("rate", ["lots", "100", "0/min", "100/week", "100 / min"])
def test_a_rate_that_is_not_a_rate_is_refused_naming_the_variable(rate: str) -> None:
    result = settings_with({**BASE, "AFTERCARE_THROTTLE_STAFF_RATE": rate}, "AFTERCARE_THROTTLE_STAFF_RATE")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "AFTERCARE_THROTTLE_STAFF_RATE" in result.stderr


def test_the_readme_states_the_default_rates() -> None:
    """The README once listed rates that were never the defaults (`600/min`, `100/s`, `5000/hour`)."""
    got = values(
        BASE, "AFTERCARE_THROTTLE_CLIENT_RATE", "AFTERCARE_THROTTLE_STAFF_RATE", "AFTERCARE_THROTTLE_TOKEN_RATE"
    )
    per_minute = {}
    for name, rate in got.items():
        count, period = rate.split("/")
        assert period in {"m", "min", "minute"}, f"{name}: the README speaks of rates a minute"
        per_minute[name] = count
    readme = (ROOT / "README.md").read_text()
    summary = re.search(
        r"each integration client (\d+) requests a minute, each staff member (\d+),\s+"
        r"and `/o/token/` (\d+) attempts a minute",
        readme,
    )
    assert summary, "the README's summary of the rate limits"
    assert summary.groups() == (
        per_minute["AFTERCARE_THROTTLE_CLIENT_RATE"],
        per_minute["AFTERCARE_THROTTLE_STAFF_RATE"],
        per_minute["AFTERCARE_THROTTLE_TOKEN_RATE"],
    )
    defaults = re.search(
        r"`AFTERCARE_THROTTLE_CLIENT_RATE`, `AFTERCARE_THROTTLE_STAFF_RATE` and\s+"
        r"`AFTERCARE_THROTTLE_TOKEN_RATE` \(defaults `([^`]+)`, `([^`]+)` and `([^`]+)`",
        readme,
    )
    assert defaults, "the README's list of the rate settings names their defaults"
    assert defaults.groups() == (
        got["AFTERCARE_THROTTLE_CLIENT_RATE"],
        got["AFTERCARE_THROTTLE_STAFF_RATE"],
        got["AFTERCARE_THROTTLE_TOKEN_RATE"],
    )
