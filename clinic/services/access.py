"""Writing the access log (clinic/models/access.py). One INSERT per request, whatever it returned."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any

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
# would last until that commits, so it is applied only in autocommit.
_INSERT = """
WITH commit_mode AS (SELECT set_config('synchronous_commit', %(commit_mode)s, true))
INSERT INTO clinic_accessevent (id, at, clinic_id, actor, user_id, client_id, action, object_type, object_ids,
                                patient_ids, method, path, status_code, ip, request_id)
SELECT %(id)s, %(at)s, %(clinic_id)s, %(actor)s, %(user_id)s, %(client_id)s, %(action)s, %(object_type)s,
       %(object_ids)s::uuid[], %(patient_ids)s::uuid[], %(method)s, %(path)s, %(status_code)s, %(ip)s,
       %(request_id)s
FROM commit_mode
"""


def access_record(
    *,
    request: HttpRequest,
    clinic: Clinic,
    user: User | None,
    client: IntegrationClient | None,
    action: AccessAction | str,
    object_type: str,
    object_ids: Iterable[Any] = (),
    patient_ids: Iterable[Any] = (),
    status_code: int,
) -> uuid.UUID:
    """Write one access event; returns its id."""
    event_id = uuid.uuid4()
    asynchronous = not settings.AFTERCARE_ACCESS_LOG_SYNCHRONOUS and connection.get_autocommit()
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT,
            {
                "commit_mode": "off" if asynchronous else "on",
                "id": event_id,
                "at": timezone.now(),
                "clinic_id": clinic.pk,
                "actor": actor_key(user, client),
                "user_id": user.pk if user is not None and client is None else None,
                "client_id": client.pk if client is not None else None,
                "action": str(action),
                "object_type": object_type,
                "object_ids": _uuids(object_ids),
                "patient_ids": _uuids(patient_ids),
                "method": request.method or "",
                "path": request.path[:300],
                "status_code": status_code,
                "ip": client_ip(request),
                "request_id": (get_guid() or "")[:64],
            },
        )
    return event_id
