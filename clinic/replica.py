"""Reads from a PostgreSQL streaming replica, for the requests that only read.

`DATABASE_REPLICA_URL` (clinic/settings.py) adds the `replica` database, `ReplicaRouter` and
`ReplicaMiddleware`; unset, none of them is installed and every query goes to the primary.

What reads the replica: a GET (or HEAD) answered by a view marked `@reads_from_replica`. The
dashboard's pages are (`staff_page` marks them), and so are the access-log exports of the API and
the dashboard; a FHIR facade joins by marking its views (a function, a view class, a DRF viewset or
one of its actions). Everything else reads the primary:
- the API: an EHR writes, then reads back in its next call, with no cookie to carry a pin (below);
  its reads are small indexed pages;
- POSTs (they read to decide what to write), Celery tasks and commands (no request, so no scope:
  the primary is the default everywhere, threads a request starts included);
- who is signed in and what they may do (sessions, users, memberships, second factors, lock-outs,
  integration clients and their tokens), whatever the view: a sign-out, a password change or a
  deactivation takes effect on the very next request, not a replica's lag later.

Read-your-writes within a request: once it writes through the ORM (a model the replica could
serve), or opens a transaction on the primary, every later read of that request goes to the
primary. The access log's INSERT (raw SQL, after the page is rendered) is not counted: every page
writes one, and it changes nothing the page shows.

Read-your-writes across requests (POST, redirect, GET): a request of a signed-in browser that wrote
answers with a cookie holding the primary's WAL position after its writes. While that cookie comes
back, a page reads the replica only once the replica has replayed that far
(`pg_last_wal_replay_lsn()`, one query on the replica), and the cookie is dropped then. Chosen
over "the primary for N seconds after a write": it is exact whatever the lag (a replica minutes
behind still never shows a user less than they wrote), and costs one query only while a write is
in flight. A forged cookie can only send its own bearer's reads to the primary.

The state of a request lives in a ContextVar: under threads (or ASGI tasks) no request sees
another's, and code outside any request sees none and reads the primary.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse

logger = logging.getLogger(__name__)

PRIMARY = DEFAULT_DB_ALIAS
REPLICA = "replica"
# The primary's WAL position after a request's writes (`pg_lsn`, e.g. `0/3000148`).
PIN_COOKIE = "aftercare_primary_lsn"
# A replica that has not replayed a write this long after it is broken, not lagging: the pin ends.
PIN_MAX_AGE_SECONDS = 15 * 60
_LSN = re.compile(r"[0-9A-F]{1,8}/[0-9A-F]{1,8}")
_MARK = "reads_from_replica"
_READ_METHODS = frozenset({"GET", "HEAD"})
_END = object()

# Authentication and authorization state: always read where it was written.
PRIMARY_ONLY_APPS = frozenset(
    {"sessions", "auth", "contenttypes", "admin", "django_otp", "otp_totp", "otp_static", "axes", "oauth2_provider"}
)
PRIMARY_ONLY_MODELS = frozenset({"clinic.user", "clinic.staffmembership", "clinic.integrationclient"})

V = TypeVar("V")


def reads_from_replica(view: V) -> V:
    """Mark a view (a function, a view class, a DRF viewset or one of its action methods) whose GETs
    may read the replica. Returns the view itself."""
    setattr(view, _MARK, True)
    return view


def marked(view: Callable[..., Any], method: str) -> bool:
    """Whether `view`, as the URL resolver returned it, answers `method` from a marked view."""
    if getattr(view, _MARK, False):
        return True
    view_class = getattr(view, "view_class", None) or getattr(view, "cls", None)
    if getattr(view_class, _MARK, False):
        return True
    actions: dict[str, str] | None = getattr(view, "actions", None)  # a DRF viewset's route
    if view_class is not None and actions:
        name = actions.get(method.lower()) or (actions.get("get") if method == "HEAD" else None)
        return bool(name and getattr(getattr(view_class, name, None), _MARK, False))
    return False


def primary_only(model: type[Model]) -> bool:
    meta = model._meta
    return meta.app_label in PRIMARY_ONLY_APPS or meta.label_lower in PRIMARY_ONLY_MODELS


@dataclass
class RequestReads:
    """Where one request reads: `replica` once its view may read the replica, `wrote` once it wrote
    (every later read then goes to the primary)."""

    replica: bool = False
    wrote: bool = False
    unpin: bool = False  # the request came with a pin the replica has now replayed


_current: ContextVar[RequestReads | None] = ContextVar("aftercare_request_reads", default=None)


def current() -> RequestReads | None:
    """The state of the request being answered in this context, if any."""
    return _current.get()


@contextmanager
def request_scope(state: RequestReads) -> Iterator[RequestReads]:
    """Code in the block reads as the request `state` describes."""
    token = _current.set(state)
    try:
        yield state
    finally:
        _current.reset(token)


class ReplicaRouter:
    """Django's database router: see the module's docstring."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str:
        state = _current.get()
        if state is None or not state.replica or primary_only(model):
            return PRIMARY
        if not state.wrote and connections[PRIMARY].in_atomic_block:
            # A transaction on the primary may have written through raw SQL: the rest reads there.
            state.wrote = True
        return PRIMARY if state.wrote else REPLICA

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        # Always the primary by name: an object read from the replica is saved to the primary.
        state = _current.get()
        if state is not None and not primary_only(model):
            state.wrote = True
        return PRIMARY

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        # The replica holds the primary's very rows.
        if {obj1._state.db, obj2._state.db} <= {PRIMARY, REPLICA}:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool | None:
        # A streaming replica receives the schema from the primary, and refuses writes.
        return False if db == REPLICA else None


def replica_has_replayed(lsn: str) -> bool:
    """Whether the replica has replayed the primary's WAL up to `lsn`. A replica that cannot say
    (unreachable) has not; a database that is not in recovery (no lag: a replica URL pointing at a
    primary) has."""
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute("SELECT coalesce(pg_last_wal_replay_lsn() >= %s::pg_lsn, true)", [lsn])
            row = cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("replica: position unknown, reading the primary (%s)", type(exc).__name__)
        return False
    return bool(row and row[0])


def replica_reachable() -> bool:
    """Whether the replica answers (connected, or connecting now): a page whose replica is down
    reads the primary rather than failing."""
    replica = connections[REPLICA]
    try:
        replica.close_if_health_check_failed()
        replica.ensure_connection()
    except DatabaseError as exc:
        logger.warning("replica: unreachable, reading the primary (%s)", type(exc).__name__)
        return False
    return True


def primary_position() -> str:
    with connections[PRIMARY].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        row = cursor.fetchone()
    return str(row[0]) if row else ""


def _within(state: RequestReads, content: Iterable[Any]) -> Iterator[Any]:
    """A streaming response's content, produced in its request's scope: an export's rows are read
    after the view (and this middleware) have returned."""
    chunks = iter(content)
    while True:
        # Set and reset around each chunk: between chunks the context is the server's, not ours.
        with request_scope(state):
            chunk = next(chunks, _END)
        if chunk is _END:
            return
        yield chunk


class ReplicaMiddleware:
    """Opens each request's scope, decides in `process_view` whether its view may read the replica,
    and keeps a browser that wrote on the primary until the replica has caught up."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        with request_scope(RequestReads()) as state:
            response = self.get_response(request)
        if isinstance(response, StreamingHttpResponse) and not response.is_async:
            # (An asynchronous stream is read outside any scope: from the primary.)
            response.streaming_content = _within(state, cast(Iterator[bytes], response.streaming_content))
        if state.wrote and settings.SESSION_COOKIE_NAME in request.COOKIES:
            response.set_cookie(
                PIN_COOKIE,
                primary_position(),
                max_age=PIN_MAX_AGE_SECONDS,
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        elif state.unpin:
            response.delete_cookie(PIN_COOKIE, samesite="Lax")
        return response

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        state = _current.get()
        if state is None or request.method not in _READ_METHODS or not marked(view, request.method):
            return None
        pin = request.COOKIES.get(PIN_COOKIE)
        if pin is not None and _LSN.fullmatch(pin):
            if not replica_has_replayed(pin):
                return None
        elif not replica_reachable():
            return None
        state.unpin = pin is not None
        state.replica = True
        return None
