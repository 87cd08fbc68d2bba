"""Child processes of `make run` and integration workers reach the database through DATABASE_URL."""

from __future__ import annotations

from typing import Any

import environ
import pytest

from clinic.embedded import database_url


@pytest.mark.parametrize(
    "settings_dict",
    [
        {"NAME": "aftercare", "USER": "postgres", "PASSWORD": "", "HOST": "/work/main/.data/pg", "PORT": ""},
        {"NAME": "test_aftercare_1", "USER": "postgres", "PASSWORD": "", "HOST": "127.0.0.1", "PORT": "5432"},
        {"NAME": "aftercare", "USER": "app", "PASSWORD": "p@ss/word:1", "HOST": "db.internal", "PORT": 5433},
    ],
)
def test_a_database_url_round_trips_through_the_settings_parser(settings_dict: dict[str, Any]) -> None:
    parsed = environ.Env.db_url_config(database_url(settings_dict))
    host = parsed["HOST"] or parsed.get("OPTIONS", {}).get("host")
    assert (parsed["NAME"], parsed["USER"], parsed["PASSWORD"], host) == (
        settings_dict["NAME"],
        settings_dict["USER"],
        settings_dict["PASSWORD"],
        settings_dict["HOST"],
    )
    assert str(parsed["PORT"] or "") == str(settings_dict["PORT"] or "")


def test_the_url_of_the_running_test_database_connects(db: None) -> None:
    from django.db import connection

    parsed = environ.Env.db_url_config(database_url(connection.settings_dict))
    import psycopg

    options = parsed.get("OPTIONS", {})
    with psycopg.connect(
        dbname=parsed["NAME"],
        user=parsed["USER"],
        password=parsed["PASSWORD"] or None,
        host=parsed["HOST"] or options.get("host"),
        port=parsed["PORT"] or None,
    ) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
