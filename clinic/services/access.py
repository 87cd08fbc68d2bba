"""Writing the access log (clinic/models/access.py). One INSERT per request, whatever it returned."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any, TypedDict, Unpack

from django.conf import settings
from django.db import connection
from django.http import HttpRequest
from django.utils import timezone
from django_guid import get_guid

from clinic.auth.caller import actor_key, client_ip
from clinic.models import Clinic, IntegrationClient, User
from clinic.models.access import AccessAction

_UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")


def _uuids(values: Iterable[Any]) -> list[str]:
    """The values that are ids, each once, in order (a path segment may be anything)."""
    seen: dict[str, None] = {}
    for value in values:
        text = str(value) if isinstance(value, uuid.UUID) else value
        if isinstance(text, str) and _UUID.fullmatch(text):
            seen[text.lower()] = None
    return list(seen)


# One statement, one round trip. Outside a transaction it is its own, and `set_config(..., true)`
# makes that transaction's commit asynchronous when the access log is configured so: the request
# does not wait for the log to reach the disk (a database crash may lose the last fraction of a
# second of events, never corrupt or reorder them). Inside a caller's transaction the setting
# would last until that commits, so it is applied only in autocommit. A list page writes the same
# event from within the statement that reads the page (`access_event_cte`, clinic/api/sqlpage.py).
_COLUMNS = (
    "id, at, clinic_id, actor, user_id, client_id, action, object_type, object_ids, patient_ids, "
    "method, path, status_code, ip, request_id"
)


def _insert(object_ids_sql: str, patient_ids_sql: str) -> str:
    return (
        f"INSERT INTO clinic_accessevent ({_COLUMNS}) "  # noqa: S608 (SQL of the code, values as parameters)
        f"SELECT %s, %s, %s, %s, %s, %s, %s, %s, {object_ids_sql}, {patient_ids_sql}, %s, %s, %s, %s, %s "
        "FROM commit_mode"
    )


_COMMIT_MODE = "commit_mode AS (SELECT set_config('synchronous_commit', %s, true))"
_INSERT = f"WITH {_COMMIT_MODE} {_insert('%s::uuid[]', '%s::uuid[]')}"


class Event(TypedDict):
    """Who did what to which kind of object, and how it ended: an event's own values."""

    request: HttpRequest
    clinic: Clinic
    user: User | None
    client: IntegrationClient | None
    action: AccessAction | str
    object_type: str
    status_code: int


def _event_values(event: Event) -> tuple[uuid.UUID, list[Any], list[Any]]:
    """The event's id and its values, before and after its two id arrays."""
    request, user, client = event["request"], event["user"], event["client"]
    event_id = uuid.uuid4()
    asynchronous = not settings.AFTERCARE_ACCESS_LOG_SYNCHRONOUS and connection.get_autocommit()
    before = [
        "off" if asynchronous else "on",
        event_id,
        timezone.now(),
        event["clinic"].pk,
        actor_key(user, client),
        user.pk if user is not None and client is None else None,
        client.pk if client is not None else None,
        str(event["action"]),
        event["object_type"],
    ]
    after = [
        request.method or "",
        request.path[:300],
        event["status_code"],
        client_ip(request),
        (get_guid() or "")[:64],
    ]
    return event_id, before, after


def access_record(
    *, object_ids: Iterable[Any] = (), patient_ids: Iterable[Any] = (), **event: Unpack[Event]
) -> uuid.UUID:
    """Write one access event; returns its id."""
    event_id, before, after = _event_values(event)
    with connection.cursor() as cursor:
        cursor.execute(_INSERT, [*before, _uuids(object_ids), _uuids(patient_ids), *after])
    return event_id


def access_event_cte(*, object_ids_sql: str, patient_ids_sql: str, **event: Unpack[Event]) -> tuple[str, list[Any]]:
    """The same event as `access_record` writes, as common table expressions to join to a
    statement (`WITH …, <these>`) whose other expressions give its ids: `object_ids_sql` and
    `patient_ids_sql` are SQL expressions of type uuid[], each id once, in the order shown."""
    _, before, after = _event_values(event)
    return f"{_COMMIT_MODE}, access_event AS ({_insert(object_ids_sql, patient_ids_sql)})", [*before, *after]
