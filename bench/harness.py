"""Shared pieces of the benchmarks: a scratch database, real HTTP servers, timed clients."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
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
def _gunicorn(arguments: Sequence[str], env: dict[str, str]) -> Iterator[int]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *arguments, "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url(connection.settings_dict), **env},
        # The access log (one line a request, thousands a second) is no part of the output.
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextmanager
def http_server() -> Iterator[int]:
    """gunicorn (one process, one thread, keep-alive) serving bench.urls on the scratch database."""
    arguments = ["clinic.wsgi:application", "--workers", "1", "--worker-class", "gthread", "--threads", "1"]
    with _gunicorn([*arguments, "--keep-alive", "30"], {"DJANGO_SETTINGS_MODULE": "bench.settings"}) as port:
        yield port


WORKERS = 2


@contextmanager
def production_server(settings_module: str, extra_env: dict[str, str] | None = None) -> Iterator[int]:
    """gunicorn as the product's image runs it (`clinic/gunicorn_conf.py`, sync workers), with
    WORKERS workers, serving `settings_module` on the scratch database."""
    arguments = ["--config", "python:clinic.gunicorn_conf", "clinic.wsgi:application", "--workers", str(WORKERS)]
    with _gunicorn(arguments, {"DJANGO_SETTINGS_MODULE": settings_module, **(extra_env or {})}) as port:
        yield port


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


# --- Concurrent load ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """What a load run measured: requests a second and latency percentiles in milliseconds."""

    rate: float
    p50_ms: float
    p99_ms: float


CONNECTIONS = 8


def load_generator() -> str:
    """`wrk` when it is installed, else the Python client below."""
    return "wrk" if shutil.which("wrk") else "python"


def check_answer(port: int, path: str, headers: dict[str, str]) -> None:
    """One request, which must be a 200 (a load generator only counts answers)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"{path} answered {response.status}: {body[:200]!r}")


def concurrent_load(port: int, path: str, headers: dict[str, str], seconds: float) -> Load:
    """CONNECTIONS concurrent clients for `seconds`; every answer must be a 200."""
    if shutil.which("wrk"):
        return _wrk(port, path, headers, seconds)
    return _threaded(port, path, headers, seconds)


_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _wrk_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _WRK_UNITS[unit]


def _wrk(port: int, path: str, headers: dict[str, str], seconds: float) -> Load:
    command = [
        "wrk",
        "--threads",
        str(min(2, CONNECTIONS)),
        "--connections",
        str(CONNECTIONS),
        "--duration",
        f"{seconds:g}s",
        "--latency",
    ]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    output = subprocess.run(
        [*command, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True
    ).stdout
    if "Non-2xx" in output or "Socket errors" in output:
        raise RuntimeError(f"{path}: wrk saw failed requests:\n{output}")
    rate = float(re.search(r"Requests/sec:\s+([0-9.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _wrk_ms(re.search(r"\s50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    p99 = _wrk_ms(re.search(r"\s99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    return Load(rate, p50, p99)


def _threaded(port: int, path: str, headers: dict[str, str], seconds: float) -> Load:
    """Threads, each with a connection of its own (reopened when the server closes it, as gunicorn's
    sync workers do after every answer). The GIL makes it the slower client: figures are ratios."""
    latencies: list[list[float]] = [[] for _ in range(CONNECTIONS)]
    failures: list[str] = []
    stop = time.perf_counter() + seconds

    def client(mine: list[float]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            while (started := time.perf_counter()) < stop:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = response.read()
                if response.status != 200:
                    failures.append(f"{response.status}: {body[:200]!r}")
                    return
                mine.append(time.perf_counter() - started)
                if response.will_close:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(mine,)) for mine in latencies]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{path} answered {failures[0]}")
    every = sorted(value for mine in latencies for value in mine)
    quantiles = statistics.quantiles(every, n=100)
    return Load(len(every) / elapsed, quantiles[49] * 1000, quantiles[98] * 1000)


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
