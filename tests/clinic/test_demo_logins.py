"""After `make run`, a newcomer signs in as each demo role with only what was printed; the links
in emails point at the address `make run` serves."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django_otp.oath import TOTP

from clinic.demo import STAFF
from clinic.management.commands.runstack import child_environment, served_url
from tests.clinic.test_settings import BASE, values


@pytest.mark.parametrize(
    ("addr", "url"),
    [
        ("127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("8123", "http://127.0.0.1:8123"),
        ("0.0.0.0:9000", "http://127.0.0.1:9000"),
        ("0:9000", "http://127.0.0.1:9000"),
        ("localhost:8001", "http://localhost:8001"),
        ("[::]:8002", "http://[::1]:8002"),
        ("[::1]:8003", "http://[::1]:8003"),
    ],
)
def test_the_served_address_is_the_one_a_browser_on_this_machine_opens(addr: str, url: str) -> None:
    assert served_url(addr) == url


def test_runstack_hands_its_address_to_the_web_server_worker_and_beat_in_debug() -> None:
    env = child_environment("127.0.0.1:8123", {"PATH": "/bin"}, debug=True)
    assert env["AFTERCARE_PUBLIC_URL"] == "http://127.0.0.1:8123"
    # and the children's settings take it
    settings_env = {k: v for k, v in BASE.items() if k != "AFTERCARE_PUBLIC_URL"}
    child = child_environment("127.0.0.1:8123", {**settings_env, "DJANGO_DEBUG": "true"}, debug=True)
    assert values(child, "AFTERCARE_PUBLIC_URL") == {"AFTERCARE_PUBLIC_URL": "http://127.0.0.1:8123"}


def test_an_address_set_by_the_operator_is_kept_and_production_gets_none_made_up() -> None:
    own = {"AFTERCARE_PUBLIC_URL": "https://clinic.example.org"}
    assert child_environment("127.0.0.1:8123", own, debug=True)["AFTERCARE_PUBLIC_URL"] == "https://clinic.example.org"
    assert "AFTERCARE_PUBLIC_URL" not in child_environment("127.0.0.1:8123", {}, debug=False)


def _seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def _printed(output: str) -> dict[str, dict[str, Any]]:
    logins: dict[str, dict[str, Any]] = {}
    for match in re.finditer(
        r"^  (\S+)\s+(.+?)\s+password: (\S+)\n\s+recovery codes: (.+)\n\s+authenticator key: ([A-Z2-7 ]+)$",
        output,
        re.MULTILINE,
    ):
        username, role, password, codes, key = match.groups()
        logins[username] = {"role": role, "password": password, "codes": codes.split(), "key": key}
    return logins


def _code(key_text: str) -> str:
    secret = key_text.replace(" ", "")
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    return str(TOTP(key, step=30, digits=6).token()).zfill(6)


def test_every_demo_role_signs_in_with_only_what_seed_demo_printed(db: None, settings: Any, tmp_path: Path) -> None:
    settings.DATA_DIR = tmp_path
    settings.AFTERCARE_PUBLIC_URL = "http://127.0.0.1:8123"
    output = _seed()
    assert "Staff sign-in: http://127.0.0.1:8123/ " in output
    logins = _printed(output)
    assert set(logins) == {member.username for member in STAFF}
    for username, login in logins.items():
        assert len(login["codes"]) == 3
        client = Client()
        # A printed recovery code, once.
        form = {"username": username, "password": login["password"], "code": login["codes"][0]}
        assert client.post("/sign-in/", form)["Location"] == "/", username
        client.post("/sign-out/")
        assert client.post("/sign-in/", form).status_code == 200  # used
        # The printed key, in an authenticator app.
        form["code"] = _code(login["key"])
        assert client.post("/sign-in/", form)["Location"] == "/", username
    # The next load keeps every key (an app holding it keeps working) and prints new codes.
    again = _printed(_seed())
    assert {name: login["key"] for name, login in again.items()} == {
        name: login["key"] for name, login in logins.items()
    }
    assert again["demo.admin"]["codes"] != logins["demo.admin"]["codes"]
