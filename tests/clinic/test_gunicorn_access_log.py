"""The web server's own logs: a real gunicorn, started as the production image starts it (the
Dockerfile's command), serving requests that carry PHI, record numbers and unsubscribe tokens in
their paths and query strings. Its access log and error log must carry none of them."""

from __future__ import annotations

import datetime
import http.client
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from clinic.auth.scopes import SCOPES
from clinic.embedded import database_url
from clinic.models import Role
from tests import phi
from tests.clinic.test_phi_in_logs import phi_of, phi_patient, phi_requests
from tests.factories import access_token, integration_client

ROOT = Path(__file__).resolve().parents[2]


def image_gunicorn_arguments(port: int) -> list[str]:
    """The gunicorn arguments of the image's CMD, on a loopback port with one worker."""
    commands = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD ")]
    argv = json.loads(commands[-1].removeprefix("CMD "))
    words = shlex.split(argv[argv.index("-c") + 1]) if argv[0] == "sh" else argv
    words = words[words.index("gunicorn") + 1 :]
    replaced = {"--bind": f"127.0.0.1:{port}", "--workers": "1"}
    return [replaced.get(before, word) for before, word in zip(["", *words], words, strict=False)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def send(port: int, method: str, target: str, *, body: str = "", headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, urllib.parse.quote(target, safe="/?=&%+"), body=body.encode() or None, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@contextmanager
def image_gunicorn(tmp_path: Path, *arguments: str) -> Iterator[tuple[int, Any, Path, Path]]:
    """A gunicorn as the image runs it (with `arguments` added), against this test's database,
    once it answers; yields its port, its process and the files its standard output (the access
    log) and standard error (the error log) go to. Stopped gracefully afterwards."""
    port = free_port()
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict), "PYTHONUNBUFFERED": "1"}
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", *image_gunicorn_arguments(port), *arguments],
            cwd=ROOT, env=env, stdout=stdout, stderr=stderr,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    send(port, "GET", "/health/", headers={})
                    break
                except OSError:
                    assert process.poll() is None, err.read_text()
                    assert time.monotonic() < deadline, "gunicorn did not start"
                    time.sleep(0.2)
            yield port, process, out, err
        finally:
            stop(process)


@pytest.fixture
def gunicorn(transactional_db: None, tmp_path: Path) -> Iterator[tuple[int, Any, Path, Path]]:
    with image_gunicorn(tmp_path) as server:
        yield server


def stop(process: Any) -> None:
    """A graceful stop, so everything the server logged is written."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_gunicorns_access_and_error_logs_carry_no_phi_and_no_token(
    gunicorn: tuple[int, Any, Path, Path], make_staff: Any, clinic_a: Any
) -> None:
    port, process, out, err = gunicorn
    patient = phi_patient(clinic_a)
    bearer = {"Authorization": f"Bearer {access_token(integration_client(clinic_a, list(SCOPES)))}"}
    staff = make_staff(clinic_a, Role.ADMIN, is_staff=True)
    session = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={staff.api.cookies[settings.SESSION_COOKIE_NAME].value}"}

    statuses = []
    for request in phi_requests(patient):
        headers = {**(session if request.staff else bearer), "Content-Type": "application/json"}
        # A Referer carrying the previous page's query string, as browsers send one.
        headers["Referer"] = f"http://127.0.0.1:{port}/admin/clinic/patient/?q={patient.family_name}"
        statuses.append(send(port, request.method, request.path, body=request.body, headers=headers))
    assert {200, 400, 404} <= set(statuses), statuses
    # The admin's search ran as the admin (not a redirect to the sign-in page).
    searches = [
        status for request, status in zip(phi_requests(patient), statuses, strict=True) if "?q=" in request.path
    ]
    assert searches == [200], statuses

    stop(process)
    access = out.read_text().splitlines()
    errors = err.read_text().splitlines()
    phi.record_lines("gunicorn access log", access)
    phi.record_lines("gunicorn error log", errors)
    print("\n".join(["access log:", *access, "error log:", *errors]))  # shown when the test fails

    requests = [line for line in access if "/health/" not in line]
    assert len(requests) == len(statuses), access
    assert any('"GET /r/unsubscribe/…/ HTTP/1.1" 200' in line for line in requests), requests
    assert any('"PUT /api/v1/patients/ HTTP/1.1"' in line for line in requests), requests
    assert any('"GET /api/v1/patients/<id>/ HTTP/1.1" 200' in line for line in requests), requests
    assert any('"GET /admin/clinic/patient/ HTTP/1.1" 200' in line for line in requests), requests
    # What the lines keep: method, path, status, duration and the request id.
    assert all(re.search(r" \d+ms request_id=[0-9a-f-]{36}$", line) for line in requests), requests
    assert any("Not Found: /api/v1/patients/…/" in line for line in errors), errors
    assert phi.leaks_in(access + errors, phi_of(patient)) == []


# Every atom gunicorn offers, and the headers and environment values that carry a request's secrets.
EVERY_ATOM = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(m)s %(U)s %(q)s %(H)s %(b)s %(B)s "%(f)s" "%(a)s" %(T)s %(D)s %(M)s %(L)s '
    "%(p)s %({referer}i)s %({cookie}i)s %({authorization}i)s %({raw_uri}e)s %({query_string}e)s %({path_info}e)s "
    "%({http_referer}e)s %({http_cookie}e)s %({http_authorization}e)s %({location}o)s %({set-cookie}o)s "
    "%({x-request-id}o)s"
)


def test_no_access_log_format_can_name_a_query_string_a_token_or_a_credential() -> None:
    """An operator's own `access_log_format` (the combined format names the Referer, and any
    header may be named) still writes paths redacted, and no header that carries a secret."""
    from types import SimpleNamespace

    from gunicorn.glogging import SafeAtoms

    from clinic.gunicorn_conf import RedactingLogger

    token = "0123456789abcdef0123456789abcdef.Zm9vYmFyLXNpZ25hdHVyZQ"
    secrets = ["Quillfeather", "MRN-ZQ-77301", token, "session-secret", "bearer-secret", "pw-secret"]
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/r/unsubscribe/{token}/?external_id=MRN-ZQ-77301",
        "PATH_INFO": f"/r/unsubscribe/{token}/",
        "QUERY_STRING": "external_id=MRN-ZQ-77301",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.9",
        "HTTP_REFERER": "https://user:pw-secret@clinic.example.org/admin/clinic/patient/?q=Quillfeather",
        "HTTP_COOKIE": "sessionid=session-secret",
        "HTTP_AUTHORIZATION": "Bearer bearer-secret",
    }
    request = SimpleNamespace(
        headers=[
            ("REFERER", environ["HTTP_REFERER"]),
            ("COOKIE", environ["HTTP_COOKIE"]),
            ("AUTHORIZATION", environ["HTTP_AUTHORIZATION"]),
        ]
    )
    request_id = "5b0c6f6e-8f7a-4d0e-9a51-2d0c1f9e3c11"
    response = SimpleNamespace(
        status="302 Found",
        sent=0,
        headers=[
            ("Location", "/admin/login/?next=/admin/clinic/patient/%3Fq%3DQuillfeather"),
            ("Set-Cookie", "sessionid=session-secret; HttpOnly"),
            ("X-Request-ID", request_id),
        ],
    )
    logger = RedactingLogger.__new__(RedactingLogger)  # its atoms only: no handlers in this process
    line = EVERY_ATOM % SafeAtoms(logger.atoms(response, request, environ, datetime.timedelta(milliseconds=12)))

    assert '"GET /r/unsubscribe/…/ HTTP/1.1" 302 GET /r/unsubscribe/…/' in line, line
    assert "https://clinic.example.org/admin/clinic/patient/" in line, line
    assert request_id in line
    assert phi.leaks_in([line], secrets) == []
