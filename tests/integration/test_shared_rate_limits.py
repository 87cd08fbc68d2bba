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
