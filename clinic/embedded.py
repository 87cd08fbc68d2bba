"""Embedded services for a machine with nothing but Python: PostgreSQL from the `pgserver` wheel
and Celery's filesystem transport, both under the data directory.

Used only when DATABASE_URL / CELERY_BROKER_URL are unset and AFTERCARE_EMBEDDED is true (see
settings). Never in production: the Docker image does not install `pgserver`. The data directory
also keeps the secret key of a debug deployment that names none.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import tempfile
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

DATABASE_NAME = "aftercare"

# Kept for the life of the process: pgserver stops the server when the last handle is released.
_server: Any = None


def database_settings(data_dir: Path) -> dict[str, Any]:
    """Start (or attach to) the embedded PostgreSQL and return Django's DATABASES entry for it."""
    global _server
    try:
        with warnings.catch_warnings():
            # pgserver keeps its lock file in the user's runtime dir; /tmp is fine without one.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
            from pgserver.postgres_server import get_server
    except ImportError as exc:  # pragma: no cover - only without the `embedded` extra
        raise ImproperlyConfigured(
            "DATABASE_URL is unset and the embedded PostgreSQL is not installed "
            "(pip install 'aftercare[embedded]'), so there is no database to use."
        ) from exc

    data_dir.mkdir(parents=True, exist_ok=True)
    if _server is None:
        _server = get_server(data_dir / "pg", cleanup_mode="stop")
        exists = _server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")  # noqa: S608 (a constant)
        if "(1 row)" not in exists:
            _server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    socket_dir = str(_server.get_postmaster_info().socket_dir)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": socket_dir,
        "PORT": "",
    }


def database_url(settings_dict: dict[str, Any]) -> str:
    """A DATABASE_URL for `settings_dict`, so child processes reach the same database.

    A Unix socket directory goes in `?host=` (django-environ passes it to psycopg as is).
    """
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@" if user else ""
    host = settings_dict.get("HOST") or ""
    name = quote(settings_dict["NAME"], safe="")
    if host.startswith("/"):
        return f"postgres://{credentials}/{name}?host={quote(host, safe='/')}"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{credentials}{quote(host, safe='')}{port}/{name}"


def filesystem_broker(data_dir: Path) -> tuple[str, dict[str, Any]]:
    """Celery's filesystem transport: every worker and beat on this machine shares one folder."""
    queue = data_dir / "broker" / "queue"
    processed = data_dir / "broker" / "processed"
    control = data_dir / "broker" / "control"  # kombu's default is ./control, wherever a process runs
    for folder in (queue, processed, control):
        folder.mkdir(parents=True, exist_ok=True)
    return "filesystem://", {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "processed_folder": str(processed),
        "control_folder": str(control),
        "store_processed": False,
    }


def debug_secret_key(data_dir: Path) -> str:
    """The secret key of a debug deployment that names none: random, made once per data directory
    and kept there (owner-only), so sessions and patients' unsubscribe links survive a restart but
    cannot be forged by anyone who has read the source code."""
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        # Written whole under another name, then linked into place: a process starting at the same
        # moment either finds no file or the complete one, and the first link wins.
        fd, staged = tempfile.mkstemp(prefix=".secret_key.", dir=data_dir)  # mode 0600
        try:
            with os.fdopen(fd, "w") as file:
                file.write(secrets.token_urlsafe(50))
            with contextlib.suppress(FileExistsError):
                os.link(staged, path)
        finally:
            os.unlink(staged)
    key = path.read_text().strip()
    if len(key) < 32:
        raise ImproperlyConfigured(f"{path} holds no usable secret key: delete it to have a new one made.")
    return key
