"""Every log record the suite produces, and the PHI the fixtures made: at the end of the run,
no patient's name, email or date of birth may appear in any of them (`tests/conftest.py`)."""

from __future__ import annotations

import logging
import traceback
from typing import Any

PHI: set[str] = set()
RECORDS: list[str] = []

_original_handle = logging.Logger.handle


def _recording_handle(self: logging.Logger, record: logging.LogRecord) -> Any:
    try:
        text = record.getMessage()
    except Exception:  # a malformed record is the logging call's bug, not ours to hide
        text = str(record.msg)
    if record.exc_info:
        text += "\n" + "".join(traceback.format_exception(*record.exc_info))
    RECORDS.append(f"{record.name}: {text}")
    return _original_handle(self, record)


def start_recording() -> None:
    logging.Logger.handle = _recording_handle  # type: ignore[method-assign]


def remember(*values: str) -> None:
    PHI.update(value for value in values if value)


def leaks() -> list[tuple[str, str]]:
    """(the PHI, the log line) for every line that carries any of it."""
    found = []
    for line in RECORDS:
        for value in PHI:
            if value in line:
                found.append((value, line))
    return found
