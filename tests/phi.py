"""Every log line the suite produces, and the PHI the fixtures made: at the end of the run, no
patient's name, email, date of birth, record number or unsubscribe token may appear in any of
them (`tests/conftest.py`).

A line is recorded as a handler of the product writes it: after the handler's filters (which
redact request paths), formatted by its formatter. Processes the suite starts (a gunicorn, a Celery
worker) hand their output in through `record_lines`."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

import ahocorasick  # type: ignore[import-not-found]  # (no type information of its own)

PHI: set[str] = set()
RECORDS: list[str] = []

_original_handle = logging.Handler.handle


def is_instrumentation(handler: logging.Handler) -> bool:
    # pytest's own capture handlers keep records for assertions (caplog); they write no log.
    return type(handler).__module__.startswith("_pytest") or isinstance(handler, logging.NullHandler)


def _recording_handle(self: logging.Handler, record: logging.LogRecord) -> Any:
    passed = _original_handle(self, record)
    if passed and not is_instrumentation(self):
        try:
            text = self.format(record)
        except Exception:  # a malformed record is the logging call's bug, not ours to hide
            text = str(record.msg)
        request = getattr(record, "request", None)
        RECORDS.append(f"{record.name}: {text}" + ("" if request is None else f" {request}"))
    return passed


def start_recording() -> None:
    logging.Handler.handle = _recording_handle  # type: ignore[method-assign]


def record_lines(source: str, lines: Iterable[str]) -> None:
    """The log output of a process the suite started."""
    RECORDS.extend(f"{source}: {line}" for line in lines)


def remember(*values: str) -> None:
    PHI.update(value for value in values if value)


def forms(value: str) -> set[str]:
    """A value as a log may carry it: as typed, and percent-encoded as in a URL."""
    return {value, quote(value, safe=""), quote(value), quote_plus(value)}


def leaks_in(lines: Iterable[str], values: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """(the PHI, the line) for every line that carries any of it (`values`, or all the fixtures'),
    each value once a line. Every form of every value is looked for in one pass over each line (an
    Aho-Corasick automaton): the suite's tens of thousands of values against its tens of
    thousands of lines, one `in` each, took longer than the suite."""
    automaton = ahocorasick.Automaton()
    for value in PHI if values is None else values:
        for form in forms(value):
            automaton.add_word(form, value)
    if len(automaton) == 0:
        return []
    automaton.make_automaton()
    found: list[tuple[str, str]] = []
    for line in lines:
        values_in_line = dict.fromkeys(value for _, value in automaton.iter(line))
        found.extend((value, line) for value in values_in_line)
    return found


def leaks() -> list[tuple[str, str]]:
    return leaks_in(RECORDS)
