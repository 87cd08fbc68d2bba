"""Writing the access log (clinic/models/access.py). One INSERT per request, whatever it returned."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest
from django_guid import get_guid

from clinic.models import Clinic, IntegrationClient, User
from clinic.models.access import AccessAction, AccessEvent


def _uuids(values: Iterable[Any]) -> list[uuid.UUID]:
    """The values that are ids, each once, in order (a path segment may be anything)."""
    seen: dict[uuid.UUID, None] = {}
    for value in values:
        if isinstance(value, uuid.UUID):
            seen[value] = None
            continue
        try:
            seen[uuid.UUID(str(value))] = None
        except (TypeError, ValueError, AttributeError):
            continue
    return list(seen)


def _ip(request: HttpRequest) -> str | None:
    from axes.helpers import get_client_ip_address  # the client IP behind AFTERCARE_TRUSTED_PROXY_COUNT

    return get_client_ip_address(request) or None


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
) -> AccessEvent:
    actor = f"client:{client.pk}" if client is not None else f"user:{user.pk if user is not None else None}"
    return AccessEvent.objects.create(
        clinic=clinic,
        actor=actor,
        user=user if client is None else None,
        client=client,
        action=action,
        object_type=object_type,
        object_ids=_uuids(object_ids),
        patient_ids=_uuids(patient_ids),
        method=request.method or "",
        path=request.path[:300],
        status_code=status_code,
        ip=_ip(request),
        request_id=(get_guid() or "")[:64],
    )
