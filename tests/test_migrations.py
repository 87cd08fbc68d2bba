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


def test_a_bare_checkout_can_check_for_missing_migrations() -> None:
    """`manage.py makemigrations --check` with no secret, database, broker or mail configured, as a
    reviewer or another CI runs it."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    bare = {"PATH": os.environ["PATH"], "HOME": str(root)}
    result = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=root, env=bare, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "No changes detected" in result.stdout
