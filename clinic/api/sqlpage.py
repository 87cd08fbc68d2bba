"""A list page read, rendered and logged by PostgreSQL in one statement.

A list of plain columns (`FastReadMixin.plain_plan`) is rendered by the database as the very JSON
text DRF's JSONRenderer writes (compact, unicode, `\\u2028` escaped: tests/clinic/test_sqlpage.py
compares them byte for byte), from the same plan the serializer follows: Python neither loads the
rows nor builds and encodes dicts. The same statement writes the page's access event (a
data-modifying `WITH`, clinic/services/access.py), so a page is one round trip after the caller's.

Filters, the cursor condition and the clinic's scope are still the ORM's (django-filter's
validation and its 400s included); only their WHERE clause is compiled, and a row's SQL is
worked out once per serializer. Anything this does not cover (a join, an annotation, another time
zone, a key that is no column, a read from a replica) takes DRF's own path.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.postgresql.base import ServerBindingCursor  # type: ignore[attr-defined]
from django.db.models import Model, QuerySet, UUIDField
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings

from clinic.api.pagination import CursorPagination, Key
from clinic.api.serializers import UtcIsoInstant


def _value(kind: str, column: str) -> str:
    """SQL for one value of a plan step, as `row_to_json` then writes it the way DRF does: text
    escaped as JSON, booleans and numbers as they are, ids as strings, dates and instants as
    DRF formats them (instants in UTC: a page is only read in SQL in UTC)."""
    if kind == "str":
        return f"{column}::text"
    if kind == "date":
        return f"to_char({column}, 'YYYY-MM-DD')"
    if kind == "datetime":
        return str(UtcIsoInstant.template % {"expressions": column})
    return column


@dataclass(frozen=True)
class RowSql:
    """A serializer's row: the values of its output names (a select list, the JSON object
    `row_to_json` makes of them), and the columns behind the names."""

    values: str
    columns: dict[str, str]
    uuid_columns: frozenset[str]


_ROWS: dict[tuple[type[Any], type[Model]], RowSql | None] = {}


def row_sql(serializer_class: Any, model: type[Model]) -> RowSql | None:
    """One row of the serializer as SQL, from its plain plan (None: no plain plan)."""
    key = (serializer_class, model)
    if key not in _ROWS:
        _ROWS[key] = _row_sql(serializer_class, model)
    return _ROWS[key]


def _row_sql(serializer_class: Any, model: type[Model]) -> RowSql | None:
    plan = getattr(serializer_class, "plain_plan", lambda: None)()
    if not plan:
        return None
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    table = quote(model._meta.db_table)
    values, columns, uuids = [], {}, set()
    for name, attribute, kind in plan:
        try:
            field = model._meta.get_field(attribute)
        except Exception:
            return None
        column = getattr(field, "column", None)
        if column is None or getattr(field, "attname", None) != attribute:
            return None
        qualified = f'{table}."{column}"'
        columns[name] = qualified
        if isinstance(getattr(field, "target_field", field), UUIDField):
            uuids.add(qualified)
        values.append(f"{_value(kind, qualified)} AS {quote(name)}")
    return RowSql(values=", ".join(values), columns=columns, uuid_columns=frozenset(uuids))


@dataclass
class Page:
    """What the statement read: the rows' JSON, whether there are more, and the ordering keys of
    the first and last rows read (for the cursor links)."""

    body: str
    fetched: int
    first: dict[str, Any] | None
    last: dict[str, Any] | None


class _PreparingCursor(ServerBindingCursor):
    """Binds its parameters on the server and prepares what it runs: psycopg keeps each
    connection's last statements prepared (at most `prepared_max`, the oldest deallocated)."""

    def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: Any = None) -> Any:
        result = super().execute(query, params, prepare=True, binary=binary)
        if self._query is None:  # type: ignore[has-type]
            # What Django logs as the statement run (psycopg keeps none when it ran a prepared one).
            self._query = self._convert_query(query, params)
        return result


def _prepared(connection: Any) -> Any:
    """A cursor of Django's (logged, wrapped) whose statement is prepared on the server: parsing
    and planning a page's statement was two fifths of the database's time for it. Django keeps
    prepared statements off for its own cursors (a transaction-mode pooler would lose them
    between transactions: this product connects to PostgreSQL directly). Not while something
    wraps the connection's statements (pghistory's context, during a signed-in session's request,
    prefixes a statement of its own, which a prepared statement cannot hold)."""
    cursor = connection.cursor()
    if connection.execute_wrappers:
        return cursor
    raw = connection.connection
    if raw.prepare_threshold is None:
        # psycopg prepares nothing while this is None (Django's default); so high, it prepares
        # only what asks to be (this cursor), never the rest on its own.
        raw.prepare_threshold = 2**31 - 1
    cursor.cursor.close()
    cursor.cursor = _PreparingCursor(raw)
    return cursor


def _simple(queryset: QuerySet[Any]) -> bool:
    query = queryset.query
    table = queryset.model._meta.db_table
    return (
        isinstance(queryset.model._meta.pk, UUIDField)
        and not query.annotations
        and not query.extra
        and not query.select_related
        and not queryset._prefetch_related_lookups  # type: ignore[attr-defined]
        # DISTINCT (django-filter's multiple choices ask for it) changes nothing on one table's
        # rows, each with its primary key; DISTINCT ON would.
        and not query.distinct_fields
        and query.combinator is None
        and query.low_mark == 0
        and query.high_mark is None
        # Only the table itself (a join the filters trimmed away stays in the map, unreferenced).
        and all(alias == table or not query.alias_refcount.get(alias) for alias in query.alias_map)
        and queryset.db == DEFAULT_DB_ALIAS
    )


def read_page(
    queryset: QuerySet[Any],
    row: RowSql,
    keys: list[Key],
    *,
    size: int,
    reverse: bool,
    patient_sql: str | None,
    log: Callable[[str, str], tuple[str, list[Any]]],
) -> Page | None:
    """The page of `queryset` in the order `keys` (already reversed when going back), `size`
    rows and one more to tell whether there are more; its access event written by the CTEs
    `log(object_ids_sql, patient_ids_sql)` returns, naming each row's patient by `patient_sql`
    (a uuid column of the row, or none). None when the query is not one this covers."""
    if not _simple(queryset):
        return None
    model = queryset.model
    connection = connections[DEFAULT_DB_ALIAS]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    key_columns = []
    for key in keys:
        try:
            field = model._meta.get_field(key.name)
        except Exception:
            return None
        if getattr(field, "column", None) is None:
            return None
        key_columns.append(f'{table}."{field.column}"')
    compiler = queryset.query.get_compiler(using=DEFAULT_DB_ALIAS)
    try:
        where, where_params = compiler.compile(queryset.query.where)
    except FullResultSet:
        where, where_params = "", ()
    except EmptyResultSet:
        return None
    order = ", ".join(
        f"{column} {'DESC' if key.descending else 'ASC'}"
        + ("" if key.nulls_last != key.descending else (" NULLS LAST" if key.nulls_last else " NULLS FIRST"))
        for column, key in zip(key_columns, keys, strict=True)
    )
    keys_select = ", ".join(f"{column} AS k{index}" for index, column in enumerate(key_columns))
    patient = patient_sql or "NULL::uuid"
    direction = "DESC" if reverse else "ASC"
    # In the order shown (a page read backwards is shown reversed), each id once.
    first_seen = "max(n)" if reverse else "min(n)"
    # (Every name in this statement comes from the models and the code; every value is a parameter.)
    object_ids = f"COALESCE((SELECT array_agg(i ORDER BY n {direction}) FROM shown), '{{}}'::uuid[])"  # noqa: S608
    patient_ids = (
        f"COALESCE((SELECT array_agg(p ORDER BY o {direction}) FROM (SELECT p, {first_seen} AS o FROM shown "  # noqa: S608
        "WHERE p IS NOT NULL GROUP BY p) AS d), '{}'::uuid[])"
    )
    logged, log_params = log(object_ids, patient_ids)
    pk = f'{table}."{model._meta.pk.column}"'
    names = ", ".join(f"k{index}" for index in range(len(keys)))
    where_clause = f" WHERE {where}" if where else ""
    sql = (
        f"WITH page AS MATERIALIZED (SELECT row_number() OVER (ORDER BY {order}) AS n, {keys_select}, "  # noqa: S608
        f"{pk} AS i, {patient} AS p, row_to_json(r)::text AS j FROM {table} CROSS JOIN LATERAL "
        f"(SELECT {row.values}) AS r{where_clause} ORDER BY {order} LIMIT %s), "
        "shown AS MATERIALIZED (SELECT * FROM page WHERE n <= %s), "
        f"{logged} "
        f"SELECT (SELECT count(*) FROM page), (SELECT string_agg(j, ',' ORDER BY n {direction}) FROM shown), "
        f"lo.*, hi.* FROM (SELECT 1) AS one "
        f"LEFT JOIN (SELECT {names} FROM shown WHERE n = 1) AS lo ON true "
        f"LEFT JOIN (SELECT {names} FROM shown ORDER BY n DESC LIMIT 1) AS hi ON true"
    )
    with _prepared(connection) as cursor:
        cursor.execute(sql, [*where_params, size + 1, size, *log_params])
        fetched, body, *bounds = cursor.fetchone()
    names_list = [key.name for key in keys]
    width = len(keys)
    low, high = bounds[:width], bounds[width:]
    if not fetched:
        return Page(body="", fetched=0, first=None, last=None)
    low_row, high_row = dict(zip(names_list, low, strict=True)), dict(zip(names_list, high, strict=True))
    first, last = (high_row, low_row) if reverse else (low_row, high_row)
    return Page(body=body or "", fetched=int(fetched), first=first, last=last)


class RenderedResponse(Response):
    """A response whose JSON the database already wrote. Rendered as is by the JSON renderer
    (compact, as configured); `data` (and any other renderer, or an indented JSON) reads it back."""

    def __init__(self, body: str) -> None:
        self.body_text = body
        super().__init__()

    @property
    def data(self) -> Any:
        return json.loads(self.body_text)

    @data.setter
    def data(self, value: Any) -> None:
        pass

    @property
    def rendered_content(self) -> Any:
        renderer = getattr(self, "accepted_renderer", None)
        context = getattr(self, "renderer_context", None)
        if (
            type(renderer) is JSONRenderer
            and self.content_type is None
            and context is not None
            and renderer.get_indent(getattr(self, "accepted_media_type", ""), context) is None
            and api_settings.COMPACT_JSON
            and api_settings.UNICODE_JSON
        ):
            context["response"] = self
            self["Content-Type"] = renderer.media_type
            return self.body_text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()
        return super().rendered_content


def page_response(paginator: CursorPagination, page: Page) -> RenderedResponse:
    """The envelope around the rows, its links made by the paginator as for any other page."""
    paginator.page_read(
        [row for row in (page.first, page.last) if row is not None], more=page.fetched > paginator.page_size_value
    )
    links = [
        json.dumps(link, ensure_ascii=False) for link in (paginator.get_next_link(), paginator.get_previous_link())
    ]
    return RenderedResponse(f'{{"next":{links[0]},"previous":{links[1]},"results":[{page.body}]}}')


def is_utc() -> bool:
    return timezone.get_current_timezone_name() == "UTC"
