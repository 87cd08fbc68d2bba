"""The baseline's tokens, stored hashed (as the product stores its own): a unique, indexed column
of SHA-256 digests, in a table the benchmark creates in its scratch database (no migration)."""

from __future__ import annotations

import hashlib
import secrets

from django.db import connection

TABLE = "bench_minimal_apitoken"


def digest_of(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def create_token(name: str) -> str:
    """A new token in the current database (the table created on first use); returns its value."""
    value = secrets.token_urlsafe(30)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, "
            "digest varchar(64) NOT NULL UNIQUE, name varchar(100) NOT NULL)"
        )
        cursor.execute(f"INSERT INTO {TABLE} (digest, name) VALUES (%s, %s)", [digest_of(value), name])
    return value
