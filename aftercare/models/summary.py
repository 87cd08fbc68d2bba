"""What the risk rules read about each patient's sessions, kept current by the database itself.

The rules need, per patient, the last attended session and the missed ones in order. Reading them
from every appointment on every sweep costs an aggregate over the whole table each hour, so the
database keeps one `RiskSummary` row per patient instead: statement-level triggers on appointments,
group attendance and group sessions call `aftercare_risk_summary_refresh(patients)`, which
recomputes the rows of the patients a statement touched, in the writer's transaction. Writes that
cannot change a summary (booking a session still to come, editing a note) refresh nothing.

The function's SQL is `aftercare/models/sql/risk_summary_refresh.sql`, rendered from the outcome
vocabulary (aftercare/models/outcomes.py) by `refresh_function_sql()` and installed by a migration
(a test fails while the installed function differs from it). It takes the patients' row locks first, so two
transactions refreshing the same patient take turns and the second one sees the first one's
sessions. A bulk load that bypasses triggers (`session_replication_role = replica`) must call
`aftercare_risk_summary_refresh(NULL)`, which rebuilds every row (`manage.py risk_sweep --rebuild`).
"""

# The trigger SQL is assembled from this module's constants only.
# ruff: noqa: S608

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pgtrigger
from django.contrib.postgres.fields import ArrayField
from django.db import models

from aftercare.models.outcomes import Outcome, SqlOutcomes
from clinic.models import Patient

# The statuses a summary reads: every other status (scheduled, excused, the cancellations) is
# invisible to the rules, so writes between them change nothing.
APPOINTMENT_COUNTED_SQL = SqlOutcomes.appointment(Outcome.ATTENDED, Outcome.MISSED)
GROUP_COUNTED_SQL = SqlOutcomes.group(Outcome.ATTENDED, Outcome.MISSED)

REFRESH_FUNCTION_FILE = Path(__file__).parent / "sql" / "risk_summary_refresh.sql"
_PLACEHOLDER = re.compile(r"\{\{ (\w+) \}\}")


def render_sql(text: str, fragments: dict[str, str]) -> str:
    """`text` with each `{{ name }}` replaced by its fragment: a placeholder without one (a misspelt
    name) fails here, not in the database."""
    unknown = set(_PLACEHOLDER.findall(text)) - fragments.keys()
    if unknown:
        raise ValueError(f"no SQL fragment for {sorted(unknown)}")
    return _PLACEHOLDER.sub(lambda match: fragments[match.group(1)], text)


def refresh_function_sql() -> str:
    """The `CREATE OR REPLACE FUNCTION aftercare_risk_summary_refresh` statement, as of today's
    file and vocabulary."""
    return render_sql(REFRESH_FUNCTION_FILE.read_text(encoding="utf-8"), SqlOutcomes.fragments())


def _after_statement(name: str, operation: Any, patients: str, *, old: bool = False, new: bool = False) -> Any:
    """A statement-level trigger refreshing the summaries of `patients` (a query over the
    statement's transition tables `old_rows` / `new_rows`)."""
    referencing = pgtrigger.Referencing(  # type: ignore[no-untyped-call]
        old="old_rows" if old else None, new="new_rows" if new else None
    )
    return pgtrigger.Trigger(
        name=name,
        level=pgtrigger.Statement,
        when=pgtrigger.After,
        operation=operation,
        referencing=referencing,
        func=f"PERFORM aftercare_risk_summary_refresh(ARRAY({patients})); RETURN NULL;",
    )


def refresh_triggers(table: str, status: str, counted: str, columns: tuple[str, ...]) -> list[Any]:
    """After each statement on `table`, refresh the patients whose counted rows it wrote.

    `columns` are the ones a summary depends on: an update that changes none of them, or only
    rows that are not counted before nor after, refreshes nothing.
    """
    changed = " OR ".join(f"n.{column} IS DISTINCT FROM o.{column}" for column in columns)
    return [
        _after_statement(
            f"risk_summary_{table}_insert",
            pgtrigger.Insert,
            f"SELECT DISTINCT patient_id FROM new_rows WHERE {status} IN {counted}",
            new=True,
        ),
        _after_statement(
            f"risk_summary_{table}_update",
            pgtrigger.Update,
            "SELECT DISTINCT v.patient_id FROM new_rows n JOIN old_rows o ON o.id = n.id "
            "CROSS JOIN LATERAL (VALUES (n.patient_id), (o.patient_id)) AS v(patient_id) "
            f"WHERE ({changed}) AND (n.{status} IN {counted} OR o.{status} IN {counted})",
            old=True,
            new=True,
        ),
        _after_statement(
            f"risk_summary_{table}_delete",
            pgtrigger.Delete,
            f"SELECT DISTINCT patient_id FROM old_rows WHERE {status} IN {counted}",
            old=True,
        ),
    ]


# A group session cancelled or moved changes the summary of everyone recorded at it. (Deleting one
# deletes its attendance first, which the attendance triggers see.)
GROUP_SESSION_TRIGGERS = [
    _after_statement(
        "risk_summary_groupsession_update",
        pgtrigger.Update,
        "SELECT DISTINCT ga.patient_id FROM new_rows n JOIN old_rows o ON o.id = n.id "
        "JOIN aftercare_groupattendance ga ON ga.session_id = n.id "
        "WHERE (n.cancelled IS DISTINCT FROM o.cancelled OR n.starts_at IS DISTINCT FROM o.starts_at) "
        f"AND ga.status IN {GROUP_COUNTED_SQL}",
        old=True,
        new=True,
    ),
]


class RiskSummary(models.Model):
    """One patient's sessions as the risk rules read them; written only by the database.

    Timelines are sorted by start (then id), so a rule counts "after the last attended session"
    or "within the last 30 days" with a binary search (`width_bucket`) and takes its evidence as a
    slice of the matching JSON array.
    """

    # No foreign key constraint: this is derived data, rebuilt from the sessions at any time,
    # and it must never stand in the way of a write to the tables it summarises.
    patient = models.OneToOneField(
        Patient, primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="risk_summary"
    )
    attended_at = models.DateTimeField(null=True)
    # The session(s) at `attended_at`: `no_contact`'s evidence.
    attended = models.JSONField(default=list)
    # Every attended session's start, sorted: how many were attended since a moment.
    attended_times = ArrayField(models.DateTimeField(), default=list)
    medication_attended_at = models.DateTimeField(null=True)
    missed_at = ArrayField(models.DateTimeField(), default=list)
    missed = models.JSONField(default=list)
    medication_missed_at = ArrayField(models.DateTimeField(), default=list)
    medication_missed = models.JSONField(default=list)
    # Each other stream apart (aftercare/models/outcomes.py, `Stream`): attending a group does not
    # end a run of missed therapy.
    individual_attended_at = models.DateTimeField(null=True)
    individual_missed_at = ArrayField(models.DateTimeField(), default=list)
    individual_missed = models.JSONField(default=list)
    group_attended_at = models.DateTimeField(null=True)
    group_missed_at = ArrayField(models.DateTimeField(), default=list)
    group_missed = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"Risk summary {self.pk}"
