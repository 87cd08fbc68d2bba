"""Periodic work done clinic by clinic: one clinic's data never stops another clinic's share.

Every per-clinic batch job (series materialisation, the risk sweep, digests) runs through
`clinics_each`: each clinic in its own transaction, a failure rolled back, logged and passed over,
and the job failed at the end so the task is recorded as failed and someone looks.
"""

from __future__ import annotations

import logging
import sysconfig
import traceback
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.db import transaction

from clinic.models import Clinic

logger = logging.getLogger(__name__)

T = TypeVar("T")


class ClinicsFailed(Exception):
    """Some clinics' share of a job failed; every other clinic's was done (and is in `results`).
    The message is the only argument, so a result backend can rebuild the exception from it."""

    def __init__(self, message: str, *, clinic_ids: list[Any] | None = None, results: dict[Any, Any] | None = None):
        super().__init__(message)
        self.clinic_ids = clinic_ids or []
        self.results = results or {}


_LIBRARIES = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"])


def _where(exc: BaseException) -> str:
    """Where in the project's code the exception was raised (file:line function, innermost first):
    code, never data."""
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if not frame.filename.startswith(_LIBRARIES)]
    return " <- ".join(f"{frame.filename.rsplit('/', 2)[-1]}:{frame.lineno} {frame.name}" for frame in frames[::-1][:4])


def _describe(exc: BaseException) -> str:
    # The class, the database's error code and where: an exception's message may quote a row
    # (a patient's name in a constraint violation), so it never reaches the log.
    cause = exc.__cause__
    kind = type(exc).__name__
    if cause is not None and type(cause).__name__ != kind:
        kind += f" ({type(cause).__name__})"
    sqlstate = getattr(cause, "sqlstate", None) or getattr(exc, "sqlstate", None)
    if sqlstate:
        kind += f" SQLSTATE {sqlstate}"
    return f"{kind} at {_where(exc)}"


def clinics_each(*, job: str, clinics: Iterable[Clinic], work: Callable[[Clinic], T]) -> dict[Any, T]:
    """`work` for each clinic, each in its own transaction (a savepoint inside a caller's). Returns
    each clinic's result by id; when any clinic failed, raises `ClinicsFailed` after all the others
    were done."""
    results: dict[Any, T] = {}
    failed: list[Any] = []
    for clinic in clinics:
        try:
            with transaction.atomic():
                results[clinic.pk] = work(clinic)
        except Exception as exc:
            failed.append(clinic.pk)
            # No traceback: its last line is the exception's message.
            logger.error("%s failed for clinic %s (%s): %s", job, clinic.pk, clinic.slug, _describe(exc))
    if failed:
        raise ClinicsFailed(
            f"{job}: {len(failed)} of {len(failed) + len(results)} clinics failed: {', '.join(map(str, failed))}",
            clinic_ids=failed,
            results=results,
        )
    return results
