"""Shared pieces of the benchmarks: a scratch database, a real HTTP server, a timed client."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil  # type: ignore[import-untyped]
from django.db import connection

from clinic.embedded import database_url

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def scratch_database() -> Iterator[str]:
    """A freshly migrated database of its own (never the development data); dropped afterwards."""
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        yield name
    finally:
        connection.creation.destroy_test_db(name, verbosity=0)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def http_server() -> Iterator[int]:
    """gunicorn (one process, one thread, keep-alive) serving bench.urls on the scratch database."""
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
    }
    process = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "clinic.wsgi:application", "--bind", f"127.0.0.1:{port}",
            "--workers", "1", "--worker-class", "gthread", "--threads", "1", "--keep-alive", "30",
            "--log-level", "warning",
        ],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)


def requests_per_second(port: int, path: str, headers: dict[str, str], seconds: float) -> float:
    """Sequential keep-alive requests for `seconds`; every answer must be a 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    count = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}: {body[:200]!r}")
        count += 1
    conn.close()
    return count / elapsed


class PeakMemory(threading.Thread):
    """The largest memory of a process and its children together, sampled. Proportional set size:
    pages a forked pool shares with its parent count once, not once a process."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = 0
        self.running = True

    def run(self) -> None:
        while self.running:
            try:
                tree = [self.process, *self.process.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_full_info().pss for p in tree))
            except psutil.Error:
                pass
            time.sleep(0.2)
