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
from tests import phi
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


def start_worker(
    broker_url: str, queue: str, *, env: dict[str, str] | None = None, concurrency: int = 1, own_group: bool = False
) -> Any:
    """A Celery worker process on `queue`, against this test's database. With `own_group`, it and
    its pool processes form their own process group, for a test to kill all of them at once."""
    return subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "tasks", "worker", "--queues", queue,
            "--concurrency", str(concurrency), "--without-mingle", "--without-gossip", "--loglevel", "INFO",
            "--hostname", f"{uuid.uuid4().hex[:6]}@%h",
        ],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": test_database_url(), "CELERY_BROKER_URL": broker_url, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=own_group,
    )  # fmt: skip


def stop(process: Any) -> None:
    process.terminate()
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    # Shown by pytest only when the test fails; checked for PHI with the suite's own log lines.
    print(output)
    phi.record_lines("celery worker", (output or "").splitlines())


@pytest.fixture
def worker(broker_url: str, transactional_db: None) -> Iterator[str]:
    """A Celery worker process on its own queue; yields the queue name."""
    queue = f"aftercare-test-{uuid.uuid4().hex[:8]}"
    process = start_worker(broker_url, queue)
    try:
        yield queue
    finally:
        stop(process)


def wait_for(condition: Callable[[], Any], timeout: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the worker")
