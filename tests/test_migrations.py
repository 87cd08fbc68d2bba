"""Every model change comes with its migration (CI fails otherwise)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command


def test_no_model_change_is_missing_a_migration(db: None) -> None:
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exit_:
        if exit_.code:
            pytest.fail(f"makemigrations would create migrations:\n{out.getvalue()}")
    assert "No changes detected" in out.getvalue()
