"""The settings module, imported afresh in a subprocess with a given environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASE = {
    "PATH": os.environ.get("PATH", ""),
    "DJANGO_SECRET_KEY": "settings-test-secret-key-0123456789abcdefghij",
    "DATABASE_URL": "postgres://settings@127.0.0.1:1/settings",
    "CELERY_BROKER_URL": "memory://",
    "EMAIL_URL": "consolemail://",
    "AFTERCARE_PUBLIC_URL": "https://reminders.example.org",
    "CACHE_URL": "redis://cache.internal:6379/0",
}
SHOW = "import json, sys, clinic.settings as s; print(json.dumps({n: str(getattr(s, n, None)) for n in sys.argv[1:]}))"


def settings_with(env: dict[str, str], *names: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SHOW, *names],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def values(env: dict[str, str], *names: str) -> dict[str, str]:
    result = settings_with(env, *names)
    assert result.returncode == 0, result.stderr
    parsed: dict[str, str] = json.loads(result.stdout)
    return parsed


@pytest.mark.parametrize("word", ["treu", "maybe", "2"])
def test_a_boolean_setting_that_is_not_a_clear_yes_or_no_is_refused(word: str) -> None:
    result = settings_with({**BASE, "DJANGO_SECURE_SSL_REDIRECT": word}, "SECURE_SSL_REDIRECT")
    assert result.returncode != 0
    assert "DJANGO_SECURE_SSL_REDIRECT" in result.stderr


def test_production_settings_are_secure_by_default() -> None:
    got = values(BASE, "DEBUG", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "SECURE_HSTS_SECONDS", "ALLOWED_HOSTS")
    assert got == {
        "DEBUG": "False",
        "SECURE_SSL_REDIRECT": "True",
        "SESSION_COOKIE_SECURE": "True",
        "SECURE_HSTS_SECONDS": "31536000",
        "ALLOWED_HOSTS": "[]",
    }


@pytest.mark.parametrize(
    "missing",
    ["DJANGO_SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "EMAIL_URL", "AFTERCARE_PUBLIC_URL", "CACHE_URL"],
)
def test_production_refuses_to_start_without_each_required_setting(missing: str) -> None:
    env = {key: value for key, value in BASE.items() if key != missing}
    result = settings_with(env, "DEBUG")
    assert result.returncode != 0
    assert missing in result.stderr


@pytest.mark.parametrize(
    "url",
    ["http://reminders.example.org", "reminders.example.org", "https://", "https://reminders.example.org/?next=x", " "],
)
def test_production_refuses_a_public_url_that_is_not_an_https_address(url: str) -> None:
    result = settings_with({**BASE, "AFTERCARE_PUBLIC_URL": url}, "AFTERCARE_PUBLIC_URL")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "AFTERCARE_PUBLIC_URL" in result.stderr


def test_the_public_url_is_kept_without_a_trailing_slash() -> None:
    got = values({**BASE, "AFTERCARE_PUBLIC_URL": "https://clinic.example.org/aftercare/"}, "AFTERCARE_PUBLIC_URL")
    assert got == {"AFTERCARE_PUBLIC_URL": "https://clinic.example.org/aftercare"}


def test_debug_has_a_local_public_url_of_its_own() -> None:
    env = {key: value for key, value in BASE.items() if key != "AFTERCARE_PUBLIC_URL"}
    assert values({**env, "DJANGO_DEBUG": "true"}, "AFTERCARE_PUBLIC_URL") == {
        "AFTERCARE_PUBLIC_URL": "http://127.0.0.1:8000"
    }


def test_a_secret_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("file-secret-key-0123456789abcdefghijklmnop")
    env = {key: value for key, value in BASE.items() if key != "DJANGO_SECRET_KEY"}
    assert values({**env, "DJANGO_SECRET_KEY_FILE": str(secret)}, "SECRET_KEY")["SECRET_KEY"] == secret.read_text()


def test_an_email_provider_is_configured_through_anymail() -> None:
    env = {key: value for key, value in BASE.items() if key != "EMAIL_URL"}
    got = values(
        {**env, "ANYMAIL_PROVIDER": "postmark", "ANYMAIL_POSTMARK_SERVER_TOKEN": "token-123"},
        "EMAIL_BACKEND",
        "ANYMAIL",
    )
    assert got["EMAIL_BACKEND"] == "anymail.backends.postmark.EmailBackend"
    assert got["ANYMAIL"] == str({"POSTMARK_SERVER_TOKEN": "token-123"})


def test_a_filesystem_broker_always_uses_the_data_directorys_folders(tmp_path: Path) -> None:
    got = values(
        {**BASE, "CELERY_BROKER_URL": "filesystem://", "AFTERCARE_DATA_DIR": str(tmp_path)},
        "CELERY_BROKER_TRANSPORT_OPTIONS",
    )
    options = got["CELERY_BROKER_TRANSPORT_OPTIONS"]
    for folder in ("queue", "processed", "control"):
        assert str(tmp_path / "broker" / folder) in options


def test_in_debug_without_a_secret_key_each_data_directory_gets_its_own_random_one(tmp_path: Path) -> None:
    """The debug default used to be a constant in the source: anyone could sign a demo's
    unsubscribe links (or session cookies) with it."""
    env = {key: value for key, value in BASE.items() if key != "DJANGO_SECRET_KEY"}
    one, two = tmp_path / "one", tmp_path / "two"
    first = values({**env, "DJANGO_DEBUG": "true", "AFTERCARE_DATA_DIR": str(one)}, "SECRET_KEY")["SECRET_KEY"]
    again = values({**env, "DJANGO_DEBUG": "true", "AFTERCARE_DATA_DIR": str(one)}, "SECRET_KEY")["SECRET_KEY"]
    other = values({**env, "DJANGO_DEBUG": "true", "AFTERCARE_DATA_DIR": str(two)}, "SECRET_KEY")["SECRET_KEY"]
    assert first == again, "generated once, then reused"
    assert first != other
    assert len(first) >= 50
    stored = one / "secret_key"
    assert stored.read_text().strip() == first
    assert stored.stat().st_mode & 0o777 == 0o600
    assert first not in (ROOT / "clinic" / "settings.py").read_text()
    # A key given in the environment still wins, and nothing is written for it.
    given = "given-debug-secret-key-0123456789abcdefghij"
    three = tmp_path / "three"
    got = values(
        {**env, "DJANGO_DEBUG": "true", "DJANGO_SECRET_KEY": given, "AFTERCARE_DATA_DIR": str(three)}, "SECRET_KEY"
    )
    assert got["SECRET_KEY"] == given
    assert not (three / "secret_key").exists()
