"""Real services for the `integration` tests: brokers named in AFTERCARE_TEST_BROKER_URLS and a
Celery worker started as its own process against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from clinic.embedded import database_url
from tests.conftest import BROKERS_VARIABLE

ROOT = Path(__file__).resolve().parents[2]


def broker_urls() -> list[str]:
    return os.environ.get(BROKERS_VARIABLE, "").split()


def broker_id(url: str) -> str:
    return url.split(":", 1)[0]


def test_database_url() -> str:
    """The URL of the database this test runs in, for a process the test starts."""
    return database_url(connection.settings_dict)


@pytest.fixture(params=broker_urls() or ["unset"], ids=broker_id)
def broker_url(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def worker(broker_url: str, transactional_db: None) -> Iterator[str]:
    """A Celery worker process on its own queue; yields the queue name."""
    queue = f"aftercare-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATABASE_URL": test_database_url(), "CELERY_BROKER_URL": broker_url}
    process = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "tasks", "worker",
            "--queues", queue, "--concurrency", "1", "--without-mingle", "--without-gossip", "--loglevel", "INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        yield queue
    finally:
        process.terminate()
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        # Shown by pytest only when the test fails.
        print(output)


def wait_for(condition: Callable[[], Any], timeout: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the worker")
