"""Rate limits on a real Redis (AFTERCARE_TEST_CACHE_URL): web processes share a caller's bucket."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

import environ
import pytest

from tests.clinic.test_settings import BASE
from tests.conftest import CACHE_VARIABLE, Persona
from tests.integration.conftest import ROOT

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not os.environ.get(CACHE_VARIABLE),
        reason=f"integration: set {CACHE_VARIABLE} to a Redis URL (e.g. redis://127.0.0.1:6379/13)",
    ),
]

# Counts one request of a client in a process of its own, with its own connection to the cache.
_OTHER_PROCESS = (
    "import sys, django; from django.conf import settings; django.setup();"
    "settings.CACHES['default']['KEY_PREFIX'] = sys.argv[3];"
    "from clinic.api.throttling import wait_seconds;"
    "print(wait_seconds('client', sys.argv[1], sys.argv[2]))"
)


def count_in_another_process(cache_url: str, ident: str, rate: str, prefix: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", _OTHER_PROCESS, ident, rate, prefix],
        cwd=ROOT,
        env={**BASE, "CACHE_URL": cache_url, "DJANGO_SETTINGS_MODULE": "clinic.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_two_processes_count_one_clients_requests_in_one_bucket(ehr_a: Persona, settings: Any) -> None:
    url = os.environ[CACHE_VARIABLE]
    # Keys of this run only: application ids repeat from one test database to the next.
    prefix = f"test-{uuid.uuid4().hex}"
    settings.CACHES = {"default": {**environ.Env.cache_url_config(url), "KEY_PREFIX": prefix}}
    # A daily window: the test cannot straddle two windows unless it runs across midnight UTC.
    settings.AFTERCARE_THROTTLE_CLIENT_RATE = "3/day"
    assert ehr_a.client is not None
    ident = str(ehr_a.client.application_id)

    assert [ehr_a.api.get("/api/v1/patients/").status_code for _ in range(2)] == [200, 200]
    assert count_in_another_process(url, ident, "3/day", prefix) == "None"  # the third request of the day
    assert count_in_another_process(url, ident, "3/day", prefix).isdigit()  # the fourth: over
    response = ehr_a.api.get("/api/v1/patients/")
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1


def test_a_request_is_counted_in_one_round_trip_to_redis_and_its_counter_expires(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counting used to take two or three round trips a request (EXISTS, INCR, and ADD at a window's
    start); one is the most a request should wait for its rate limit."""
    import redis
    from django.core.cache import caches

    from clinic.api.throttling import wait_seconds

    url = os.environ[CACHE_VARIABLE]
    prefix = f"test-{uuid.uuid4().hex}"
    settings.CACHES = {
        "default": {
            **environ.Env.cache_url_config(url, backend="django.core.cache.backends.redis.RedisCache"),
            "KEY_PREFIX": prefix,
        }
    }
    cache: Any = caches["default"]
    cache.get("warm-up")  # the connection is opened outside the count
    sent: list[Any] = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counted(self: Any, command: Any, check_health: bool = True) -> None:
        sent.append(command)
        original(self, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)
    assert [wait_seconds("client", "one-trip", "3/hour") for _ in range(4)][:3] == [None, None, None]
    assert len(sent) == 4  # one a request, the first of a window included
    monkeypatch.undo()
    keys = cache._cache.get_client(write=False).keys(f"{prefix}:*throttle:client:one-trip:*")
    assert len(keys) == 1
    assert cache.get(keys[0].decode().split(":", 2)[2]) == 4
    assert 0 < cache._cache.get_client(write=False).ttl(keys[0]) <= 3601
