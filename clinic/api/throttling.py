"""Rate limits per caller, counted in the shared cache (`CACHES`, from CACHE_URL).

Integration clients and staff members each have a bucket of their own, at the rate of their kind
(`AFTERCARE_THROTTLE_CLIENT_RATE`, `AFTERCARE_THROTTLE_STAFF_RATE`). The caller is known from what
authentication already loaded (the token's application, the session's user): no query of its own.
The OAuth2 endpoints, which are not DRF views, count attempts per client id and per client IP
(`AFTERCARE_THROTTLE_TOKEN_RATE`): each attempt costs a hash of the client secret.

A fixed window per caller: one counter, incremented atomically (Redis INCR), rather than DRF's list
of every request's time read and written back, which grows with the rate and loses counts when two
processes write it at once. The price: a caller may spend one window's limit at its end and the
next one's at the start.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import math
import time
from typing import Any, ClassVar
from urllib.parse import unquote_plus

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider import views as oauth2_views
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from clinic.auth.caller import client_ip

logger = logging.getLogger(__name__)

_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """`600/min` → (600, 60): the number of requests and the window in seconds."""
    count, _, period = rate.partition("/")
    return int(count), _SECONDS[period[0]]


# `SET key 0 EX timeout NX` then `INCR key`, atomically: the key always has its expiry (two
# separate calls could leave a counter that never expires if it lapsed between them).
_COUNT_SCRIPT = "redis.call('SET', KEYS[1], 0, 'EX', ARGV[1], 'NX') return redis.call('INCR', KEYS[1])"


def _redis_client(backend: RedisCache) -> Any:
    """The cache's Redis client for writes, made once per connection pool (Django makes a new
    client object for every call: a sixth of a bearer call's time in its rate limit)."""
    cache_client: Any = backend._cache  # type: ignore[attr-defined]
    pool = cache_client._get_connection_pool(True)
    client = getattr(pool, "_aftercare_client", None)
    if client is None:
        client = pool._aftercare_client = cache_client._client(connection_pool=pool)
    return client


def _count(key: str, timeout: int) -> int:
    """Counts one request under `key`, which lives `timeout` seconds from its first; the count so far.

    On Redis (production), one round trip: a script that sets the key with its expiry if it is
    not there and increments it (EVAL: one command, where MULTI/EXEC was four, and never the extra
    round trips of loading a script by its digest). Any other cache (files for `make run`, memory
    in tests) goes through Django's portable calls, two or three of them.
    """
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        full_key = backend.make_and_validate_key(key)
        return int(_redis_client(backend).eval(_COUNT_SCRIPT, 1, full_key, timeout))
    try:
        return int(backend.incr(key))
    except ValueError:  # the window's first request (or its counter just expired)
        return 1 if backend.add(key, 1, timeout=timeout) else int(backend.incr(key))


def wait_seconds(scope: str, ident: str, rate: str) -> int | None:
    """Counts one request of `ident`; when that is over the rate, the whole seconds until its
    window ends (at least 1), else None."""
    limit, period = parse_rate(rate)
    now = time.time()
    window = int(now // period)
    remaining = (window + 1) * period - now
    try:
        count = _count(f"throttle:{scope}:{ident}:{window}", math.ceil(remaining) + 1)
    except Exception as exc:
        # An unreachable cache must not take the API down with it: the limit lapses, loudly.
        logger.warning("rate limit not applied: the cache failed (%s)", type(exc).__name__)
        return None
    if count <= limit:
        return None
    return max(1, math.ceil(remaining))


class _CallerThrottle(BaseThrottle):
    scope: ClassVar[str]
    rate_setting: ClassVar[str]
    _wait: int | None = None

    def ident(self, request: Request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        ident = self.ident(request)
        if ident is None:
            return True
        self._wait = wait_seconds(self.scope, ident, getattr(settings, self.rate_setting))
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait


class IntegrationClientThrottle(_CallerThrottle):
    """One bucket per OAuth2 application, hence per integration client (one-to-one)."""

    scope = "client"
    rate_setting = "AFTERCARE_THROTTLE_CLIENT_RATE"

    def ident(self, request: Request) -> str | None:
        application_id = getattr(request.auth, "application_id", None)
        return None if application_id is None else str(application_id)


class StaffThrottle(_CallerThrottle):
    """One bucket per signed-in user, whichever clinic they act for."""

    scope = "staff"
    rate_setting = "AFTERCARE_THROTTLE_STAFF_RATE"

    def ident(self, request: Request) -> str | None:
        if request.auth is not None:
            return None
        user = request.user
        return str(user.pk) if user is not None and user.is_authenticated else None


# --- The OAuth2 endpoints ------------------------------------------------------------------------


def _client_id(request: HttpRequest) -> str | None:
    """The client id a token request names, in its body or its HTTP Basic credentials (RFC 6749 §2.3.1)."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return unquote_plus(decoded.partition(":")[0]) or None
    return request.POST.get("client_id") or None


def _hashed(value: str) -> str:
    # Whatever a caller sends becomes a fixed-length, safe cache key.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def client_endpoint_wait(request: HttpRequest) -> int | None:
    """Counts one attempt at an OAuth2 endpoint per client id and per client IP; the seconds to wait
    when either is over `AFTERCARE_THROTTLE_TOKEN_RATE`, else None."""
    rate = settings.AFTERCARE_THROTTLE_TOKEN_RATE
    waits = []
    client_id = _client_id(request)
    if client_id is not None:
        waits.append(wait_seconds("token-client", _hashed(client_id), rate))
    ip = client_ip(request)
    if ip:
        waits.append(wait_seconds("token-ip", _hashed(str(ip)), rate))
    over = [wait for wait in waits if wait is not None]
    return max(over) if over else None


def throttled_response(wait: int) -> HttpResponse:
    """The API's 429, as DRF and the error handler would answer it."""
    exc = Throttled(wait)
    response = JsonResponse(
        {"type": "client_error", "errors": [{"code": exc.default_code, "detail": str(exc.detail), "attr": None}]},
        status=exc.status_code,
    )
    response["Retry-After"] = str(wait)
    return response


class _ClientEndpointThrottle:
    @method_decorator(sensitive_post_parameters("client_secret"))
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        wait = client_endpoint_wait(request)
        if wait is not None:
            return throttled_response(wait)
        response: HttpResponse = super().post(request, *args, **kwargs)  # type: ignore[misc]
        return response


class TokenView(_ClientEndpointThrottle, oauth2_views.TokenView):
    """django-oauth-toolkit's token endpoint, rate limited."""


class RevokeTokenView(_ClientEndpointThrottle, oauth2_views.RevokeTokenView):
    """django-oauth-toolkit's revocation endpoint, rate limited like the token endpoint."""
