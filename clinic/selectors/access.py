"""Reading the access log (clinic/models/access.py): filtered lists, keyset pages, the people
behind the actor keys, and the CSV export the API and the dashboard both serve, with the trailer
that tells a complete export (or archived month) from a cut one."""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import IO, Any

from django.db.models import DateTimeField, ExpressionWrapper, F, Func, Q, QuerySet, TextField, Value
from django.db.models.functions import Cast, Coalesce

from clinic import heartbeat
from clinic.models import AccessEvent, Clinic, IntegrationClient, Patient, Role, StaffMembership, User

CSV_COLUMNS = [
    "id", "at", "actor", "action", "object_type", "object_ids", "patient_ids",
    "method", "path", "status_code", "ip", "request_id",
]  # fmt: skip
# The dashboard's export adds who the actor was, by name and role.
CSV_NAMED_COLUMNS = [*CSV_COLUMNS, "actor_name", "actor_role"]
CSV_CHUNK = 2000


def access_event_list(
    *,
    clinic: Clinic,
    patient_ids: Sequence[Any] | None = None,
    actor: str | None = None,
    actions: Iterable[str] = (),
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
) -> QuerySet[AccessEvent]:
    """The clinic's events, newest first (by `seen_at`, see `access_events_touching`).
    `patient_ids`: events that touched any of these patients (an empty list matches nothing)."""
    events: QuerySet[AccessEvent] = AccessEvent.objects.filter(clinic=clinic).annotate(seen_at=F("at"))
    if patient_ids is not None:
        events = access_events_touching(events, patient_ids)
    if actor:
        events = access_events_by(events, actor)
    actions = list(actions)
    if actions:
        events = events.filter(action__in=actions)
    if since is not None:
        events = events.filter(at__gte=since)
    if until is not None:
        events = events.filter(at__lt=until)
    return events.order_by(*NEWEST_FIRST)


# The order of every list and page: `seen_at` is `at`, except where the planner must not walk the
# clinic's history in time order (below).
NEWEST_FIRST = ("-seen_at", "-id")


def access_events_touching(events: QuerySet[AccessEvent], patient_ids: Sequence[Any]) -> QuerySet[AccessEvent]:
    """`events` that touched any of these patients, through the GIN index on `patient_ids`.

    Asked for the newest 50, the planner would rather walk `(clinic, at)` backwards and test each
    event, expecting a match every few hundred rows; for a patient seen rarely it reads the clinic's
    whole history (4.5 s at 4 M events, and growing). Ordering by `at + 0` (the same order) is a
    key no index provides, so the plan is the GIN bitmap, then a sort of just the matches."""
    ids = list(patient_ids)
    matched = events.filter(patient_ids__contains=ids) if len(ids) == 1 else events.filter(patient_ids__overlap=ids)
    return matched.annotate(
        seen_at=ExpressionWrapper(F("at") + Value(datetime.timedelta(0)), output_field=DateTimeField())
    )


def access_events_by(events: QuerySet[AccessEvent], actor: str) -> QuerySet[AccessEvent]:
    """`events` of one actor key (`user:<id>` or `client:<id>`), through the partial index on the
    user's or client's id and `at` (an index on the key itself would be two and a half times the size)."""
    kind, _, pk = actor.partition(":")
    events = events.filter(actor=actor)
    try:
        value = uuid.UUID(pk)
    except ValueError:
        return events
    if kind == "user":
        return events.filter(user_id=value)
    if kind == "client":
        return events.filter(client_id=value)
    return events


# --- keyset pages: as fast on the millionth event as on the first -----------------------------------


def access_cursor(event: AccessEvent) -> str:
    return f"{event.at.isoformat()}~{event.pk}"


def _parse_cursor(cursor: str) -> tuple[datetime.datetime, uuid.UUID] | None:
    at, _, pk = cursor.partition("~")
    try:
        moment = datetime.datetime.fromisoformat(at)
        return (moment, uuid.UUID(pk)) if moment.tzinfo is not None else None
    except ValueError:
        return None


def access_event_page(
    events: QuerySet[AccessEvent], *, after: str = "", size: int = 50
) -> tuple[list[AccessEvent], str | None]:
    """One page of `events` (newest first) older than the cursor `after` (a cursor that does not
    parse starts from the newest), and the cursor of the next page (None on the last)."""
    position = _parse_cursor(after) if after else None
    if "seen_at" not in events.query.annotations:
        events = events.annotate(seen_at=F("at"))
    if position is not None:
        at, pk = position
        events = events.filter(Q(seen_at__lt=at) | Q(seen_at=at, id__lt=pk))
    rows = list(events.order_by(*NEWEST_FIRST)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return rows, access_cursor(rows[-1]) if more and rows else None


# --- who acted: names and roles for actor keys, in a fixed number of queries -------------------------


@dataclass(frozen=True)
class Actor:
    name: str
    role: str  # "Clinician", "Integration client", … or "" when unknown
    is_client: bool = False


UNKNOWN_ACTOR = Actor(name="Unknown", role="")


def access_actors(*, clinic: Clinic, events: Iterable[AccessEvent]) -> dict[str, Actor]:
    """The people and clients behind the events' actor keys (three queries, whatever the number
    of events): staff by full name with their role in this clinic, clients by name."""
    user_ids: set[Any] = set()
    client_ids: set[Any] = set()
    for event in events:
        if event.client_id is not None:
            client_ids.add(event.client_id)
        elif event.user_id is not None:
            user_ids.add(event.user_id)
    return _actors(clinic=clinic, user_ids=user_ids, client_ids=client_ids)


def _actors(*, clinic: Clinic, user_ids: set[Any], client_ids: set[Any]) -> dict[str, Actor]:
    actors: dict[str, Actor] = {}
    if user_ids:
        roles = dict(StaffMembership.objects.filter(clinic=clinic, user_id__in=user_ids).values_list("user_id", "role"))
        labels = dict(Role.choices)
        for user in User.objects.filter(pk__in=user_ids).only("id", "username", "first_name", "last_name"):
            name = f"{user.first_name} {user.last_name}".strip() or user.username
            actors[f"user:{user.pk}"] = Actor(name=name, role=str(labels.get(roles.get(user.pk, ""), "")))
    if client_ids:
        for client in IntegrationClient.objects.filter(pk__in=client_ids).only("id", "name"):
            actors[f"client:{client.pk}"] = Actor(name=client.name, role="Integration client", is_client=True)
    return actors


def access_actor_choices(*, clinic: Clinic) -> list[tuple[str, str]]:
    """Everyone who may appear in the clinic's log, by name, as (actor key, label): its staff
    (former staff too) and its integration clients. Two queries."""
    staff = [
        (f"user:{user.pk}", f"{user.first_name} {user.last_name}".strip() or user.username)
        for user in User.objects.filter(memberships__clinic=clinic).only("id", "username", "first_name", "last_name")
    ]
    clients = [
        (f"client:{client.pk}", f"{client.name} (integration client)")
        for client in IntegrationClient.objects.filter(clinic=clinic).only("id", "name")
    ]
    return sorted(staff, key=lambda choice: choice[1].casefold()) + sorted(
        clients, key=lambda choice: choice[1].casefold()
    )


# --- the CSV export -----------------------------------------------------------------------------------
#
# The last line of every export (and of every archived month, clinic/services/access_partitions.py)
# is `# rows=<N> sha256=<hex>`: the number of CSV records after the header, and the SHA-256 of every
# byte before that line. A download cut short (a worker killed, a connection dropped, an error
# part-way) has no such line or one that does not match: `access_export_verify` (and
# `manage.py verify_access_export <file>`) tells which.

TRAILER = re.compile(rb"# rows=([0-9]+) sha256=([0-9a-f]{64})\r?\n?")


class ExportIncomplete(ValueError):
    """The file is not a complete export: its trailer is missing or does not match what precedes it."""


def trailer(rows: int, digest: Any) -> str:
    return f"# rows={rows} sha256={digest.hexdigest()}\r\n"


# What PostgreSQL writes as text itself: turning 16-byte ids into UUID objects and back into text
# in Python took two thirds of an export's time.
_AS_TEXT = {
    "id_text": Cast("id", TextField()),
    "object_text": Func(F("object_ids"), Value(" "), function="array_to_string", output_field=TextField()),
    "patient_text": Func(F("patient_ids"), Value(" "), function="array_to_string", output_field=TextField()),
    "ip_text": Coalesce(Func(F("ip"), function="host", output_field=TextField()), Value(""), output_field=TextField()),
}
_CSV_SELECT = [
    "id_text", "at", "actor", "action", "object_type", "object_text", "patient_text",
    "method", "path", "status_code", "ip_text", "request_id", "user_id", "client_id",
]  # fmt: skip


def _row(event: tuple[Any, ...]) -> list[Any]:
    return [event[0], event[1].isoformat(), *event[2:12]]


def access_events_csv(
    events: QuerySet[AccessEvent], *, clinic: Clinic | None = None, names: bool = False
) -> Iterator[str]:
    """Every event of `events`, oldest first, as CSV (the header first, the trailer last), read from
    the database in chunks through a server-side cursor and given a chunk of rows at a time (one
    write to the socket per chunk, not per row). `names=True` adds the actor's name and role (looked
    up once per chunk). An error part-way is raised, never turned into a clean end: the download
    then fails, and what did arrive has no trailer. Between chunks the worker tells gunicorn it is
    still making progress (clinic/heartbeat.py), so its timeout stops a stuck export, not a long one."""
    if names and clinic is None:
        raise ValueError("names=True needs the clinic the roles are read in.")
    digest = hashlib.sha256()
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        digest.update(text.encode())
        return text

    writer.writerow(CSV_NAMED_COLUMNS if names else CSV_COLUMNS)
    yield flush()
    count = 0
    if "seen_at" not in events.query.annotations:
        events = events.annotate(seen_at=F("at"))
    columns = events.order_by("seen_at", "id").annotate(**_AS_TEXT).values_list(*_CSV_SELECT)
    rows = columns.iterator(chunk_size=CSV_CHUNK)
    while chunk := list(islice(rows, CSV_CHUNK)):
        count += len(chunk)
        if names and clinic is not None:
            users = {row[12] for row in chunk if row[13] is None and row[12] is not None}
            actors = _actors(clinic=clinic, user_ids=users, client_ids={row[13] for row in chunk if row[13]})
            for row in chunk:
                actor = actors.get(row[2], UNKNOWN_ACTOR)
                writer.writerow([*_row(row), actor.name, actor.role])
        else:
            writer.writerows(map(_row, chunk))
        heartbeat.alive()
        yield flush()
    yield trailer(count, digest)


def access_export_verify(stream: IO[bytes]) -> int:
    """The number of rows of a complete export read from `stream` (bytes, as downloaded): raises
    ExportIncomplete when the trailer is missing, or its count or checksum disagree with the file."""
    digest = hashlib.sha256()
    last: list[bytes] = []

    def body() -> Iterator[str]:
        previous: bytes | None = None
        for line in stream:
            if previous is not None:
                digest.update(previous)
                yield previous.decode("utf-8")
            previous = line
        last.append(previous or b"")

    records = max(sum(1 for _ in csv.reader(body())) - 1, 0)  # the header is not a row
    found = TRAILER.fullmatch(last[0])
    if found is None:
        raise ExportIncomplete("The file does not end with its `# rows=… sha256=…` line: it is incomplete.")
    if int(found[1]) != records:
        raise ExportIncomplete(f"The trailer counts {int(found[1])} rows; the file holds {records}.")
    if found[2].decode() != digest.hexdigest():
        raise ExportIncomplete("The file's SHA-256 does not match its trailer: it was cut or changed.")
    return records


# --- the patients an auditor asks about -------------------------------------------------------------

PATIENT_MATCH_LIMIT = 50


def access_patients_matching(*, clinic: Clinic, text: str, limit: int = PATIENT_MATCH_LIMIT) -> list[Any]:
    """The ids of the clinic's patients an auditor's search names: an exact MRN, or every word the
    start of the given or family name (at most `limit`, by name)."""
    text = text.strip()
    if not text:
        return []
    query = Q(external_id__iexact=text)
    words = text.split()
    if words:
        by_name = Q()
        for word in words:
            by_name &= Q(given_name__istartswith=word) | Q(family_name__istartswith=word)
        query |= by_name
    patients = Patient.objects.filter(clinic=clinic).filter(query).order_by("family_name", "given_name", "id")
    return list(patients.values_list("id", flat=True)[:limit])


def access_patient_names(*, clinic: Clinic, patient_ids: Iterable[Any]) -> dict[Any, Patient]:
    """The clinic's patients among `patient_ids` (one query), by id, with just what names them."""
    ids = set(patient_ids)
    if not ids:
        return {}
    patients = Patient.objects.filter(clinic=clinic, pk__in=ids).only("id", "given_name", "family_name", "external_id")
    return {patient.pk: patient for patient in patients}
