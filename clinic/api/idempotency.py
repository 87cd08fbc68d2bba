"""`Idempotency-Key` for POST: a retried request returns the first response and writes nothing new.

The key row is inserted and locked in the same transaction as the handler's writes. A concurrent
request with the same key waits on that row, then sees the finished response: two retries racing
each other still create one object. Only 2xx responses are kept; after an error the key is free to
be used again, as the client is expected to retry with a corrected request.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from clinic.api.errors import IdempotencyKeyReused
from clinic.api.schema import IDEMPOTENCY_HEADER
from clinic.auth.caller import get_caller
from clinic.models import IdempotencyKey

Handler = TypeVar("Handler", bound=Callable[..., Response])

REPLAYED_HEADER = "Idempotent-Replayed"
_KEPT_HEADERS = ("Location",)


def _fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    material = f"{request.method}\n{request.path}\n{body}"
    return hashlib.sha256(material.encode()).hexdigest()


def idempotent(handler: Handler) -> Handler:
    """Wrap a POST handler (`create` or a POST action) of an API view."""

    @functools.wraps(handler)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not 1 <= len(key) <= 255 or not key.isprintable():
            raise exceptions.ValidationError(
                {IDEMPOTENCY_HEADER: ["An Idempotency-Key is 1 to 255 printable characters."]}
            )
        caller = get_caller(request)
        fingerprint = _fingerprint(request)
        scope = {"clinic": caller.clinic, "caller": caller.key, "key": key}
        expired_before = timezone.now() - timedelta(hours=settings.AFTERCARE_IDEMPOTENCY_TTL_HOURS)
        with transaction.atomic():
            IdempotencyKey.objects.filter(**scope, created_at__lt=expired_before).delete()
            IdempotencyKey.objects.bulk_create(
                [IdempotencyKey(**scope, fingerprint=fingerprint)], ignore_conflicts=True
            )
            record = IdempotencyKey.objects.select_for_update().get(**scope)
            if record.response_status is not None:
                if record.fingerprint != fingerprint:
                    raise IdempotencyKeyReused()
                return Response(
                    record.response_body,
                    status=record.response_status,
                    headers={**record.response_headers, REPLAYED_HEADER: "true"},
                )
            response = handler(view, request, *args, **kwargs)
            if 200 <= response.status_code < 300:
                record.response_status = response.status_code
                record.response_body = json.loads(JSONRenderer().render(response.data) or b"null")
                record.response_headers = {name: response[name] for name in _KEPT_HEADERS if response.has_header(name)}
                record.save(update_fields=["response_status", "response_body", "response_headers"])
            else:
                record.delete()
            return response

    return wrapper  # type: ignore[return-value]
