"""What a session's recorded status means to the risk rules: attended, missed, or not counted.

This is the one definition. The risk summary's triggers and refresh function, the rules' SQL, the
caseload's counts, the patient page and the flags' wording are all rendered or derived from the two
maps below; `tests/aftercare/test_outcomes.py` proves it by changing a map and watching the SQL
follow.

- Attended: `attended` or `late`.
- Missed: `missed` (a no-show) or `late_cancelled`.
- Not counted: `cancelled` (with notice), `cancelled_by_clinic`, `excused`, and a session still
  `scheduled`: neither attended nor missed, invisible to every rule. A group session the clinic
  cancelled is not counted whatever its attendance says.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping

from aftercare.models.choices import ActivityKind, AttendanceStatus, GroupAttendanceStatus


class Outcome(enum.StrEnum):
    ATTENDED = "attended"
    MISSED = "missed"
    NOT_COUNTED = "not_counted"


# Every status maps to an outcome (a test checks that none is left out).
APPOINTMENT_OUTCOMES: Mapping[str, Outcome] = {
    AttendanceStatus.SCHEDULED: Outcome.NOT_COUNTED,
    AttendanceStatus.ATTENDED: Outcome.ATTENDED,
    AttendanceStatus.LATE: Outcome.ATTENDED,
    AttendanceStatus.MISSED: Outcome.MISSED,
    AttendanceStatus.CANCELLED: Outcome.NOT_COUNTED,
    AttendanceStatus.LATE_CANCELLED: Outcome.MISSED,
    AttendanceStatus.CANCELLED_BY_CLINIC: Outcome.NOT_COUNTED,
    AttendanceStatus.EXCUSED: Outcome.NOT_COUNTED,
}
GROUP_OUTCOMES: Mapping[str, Outcome] = {
    GroupAttendanceStatus.ATTENDED: Outcome.ATTENDED,
    GroupAttendanceStatus.LATE: Outcome.ATTENDED,
    GroupAttendanceStatus.MISSED: Outcome.MISSED,
    GroupAttendanceStatus.EXCUSED: Outcome.NOT_COUNTED,
}


def statuses(outcomes: Mapping[str, Outcome], *wanted: Outcome) -> tuple[str, ...]:
    """The statuses of `outcomes` that mean one of `wanted`, in the map's order."""
    return tuple(str(status) for status, outcome in outcomes.items() if outcome in wanted)


def sql_list(values: Iterable[str]) -> str:
    """`('attended', 'late')`: a literal list of statuses for `IN`, in the order given. The values
    are enumeration members, never input."""
    ordered = list(values)
    if not ordered or any(not value.replace("_", "").isalnum() for value in ordered):
        raise ValueError("a status list holds one or more plain identifiers")
    return "(" + ", ".join(f"'{value}'" for value in ordered) + ")"


def outcome_of(status: str | None, *, group: bool = False) -> Outcome:
    """The outcome of one recorded status (an unknown or missing status counts for nothing)."""
    return (GROUP_OUTCOMES if group else APPOINTMENT_OUTCOMES).get(status or "", Outcome.NOT_COUNTED)


# Statuses that count as attended or missed, for appointments and group attendance alike: the
# vocabulary Python code reads (a status is one or the other for both kinds of session).
ATTENDED_STATUSES = frozenset(
    statuses(APPOINTMENT_OUTCOMES, Outcome.ATTENDED) + statuses(GROUP_OUTCOMES, Outcome.ATTENDED)
)
MISSED_STATUSES = frozenset(statuses(APPOINTMENT_OUTCOMES, Outcome.MISSED) + statuses(GROUP_OUTCOMES, Outcome.MISSED))


class Stream(enum.StrEnum):
    """The activity streams whose misses are counted apart as well as together (attending a group
    does not end a run of missed therapy): a patient's appointments, by their kind, and the
    sessions of their support groups."""

    INDIVIDUAL = "individual"
    GROUP = "group"
    MEDICATION = "medication"


# An appointment's stream, by its kind (every other kind is an individual appointment).
APPOINTMENT_STREAMS: Mapping[str, Stream] = {ActivityKind.MEDICATION: Stream.MEDICATION}


def appointment_stream(kind: str) -> Stream:
    return APPOINTMENT_STREAMS.get(kind, Stream.INDIVIDUAL)


class SqlOutcomes:
    """The SQL fragments of the vocabulary, rendered from the maps above each time they are asked
    for (so a test that changes a map sees its SQL change)."""

    @staticmethod
    def appointment(*wanted: Outcome) -> str:
        return sql_list(statuses(APPOINTMENT_OUTCOMES, *wanted))

    @staticmethod
    def group(*wanted: Outcome) -> str:
        return sql_list(statuses(GROUP_OUTCOMES, *wanted))

    @staticmethod
    def appointment_stream(kind: str) -> str:
        """A CASE naming the stream of an appointment whose kind is the column `kind`."""
        branches = " ".join(
            f"WHEN {kind} IN {sql_list([k for k, s in APPOINTMENT_STREAMS.items() if s == stream])} THEN '{stream}'"
            for stream in dict.fromkeys(APPOINTMENT_STREAMS.values())
        )
        return f"CASE {branches} ELSE '{Stream.INDIVIDUAL}' END"

    @classmethod
    def fragments(cls) -> dict[str, str]:
        """Every fragment by name, as the summary's `.sql` file and the triggers use them."""
        attended, missed = Outcome.ATTENDED, Outcome.MISSED
        return {
            "appointment_attended": cls.appointment(attended),
            "appointment_missed": cls.appointment(missed),
            "appointment_counted": cls.appointment(attended, missed),
            "group_attended": cls.group(attended),
            "group_missed": cls.group(missed),
            "group_counted": cls.group(attended, missed),
            "appointment_stream": cls.appointment_stream("a.kind"),
            "group_stream": f"'{Stream.GROUP}'",
        }
