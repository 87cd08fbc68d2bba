"""One list envelope, `{next, previous, results}`, paged by a keyset cursor.

A cursor names the position after (or before) a row by the values of every ordering key of that
row, the last of which is unique (the id), so a page never repeats or skips a row whatever the
ties in the leading keys (a bulk update gives thousands of rows one `updated_at`) and however far
the walk goes. DRF's own cursor positions on the first key only and counts ties with an offset it
caps at 1000, and answers a bad cursor with a 404.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import re
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models import F, OrderBy, Q, QuerySet, Subquery
from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

_ASCII_NUMBER = re.compile(r"[0-9]{1,6}")
_INVALID_CURSOR = "Invalid cursor: use the `next` or `previous` link of a page, with the same `ordering`."


@dataclass(frozen=True)
class Key:
    """One ordering key: a column or annotation, its direction and where its nulls sort."""

    name: str
    descending: bool
    nulls_last: bool  # PostgreSQL's default: last ascending, first descending

    @classmethod
    def parse(cls, item: Any, model: type[models.Model]) -> Key:
        if isinstance(item, str):
            descending = item.startswith("-")
            name = item.lstrip("-")
            nulls_last = not descending
        elif isinstance(item, OrderBy) and isinstance(item.expression, F):
            name, descending = item.expression.name, item.descending
            nulls_last = bool(item.nulls_last) if item.nulls_last or item.nulls_first else not descending
        elif isinstance(item, F):
            name, descending, nulls_last = item.name, False, True
        else:
            raise TypeError(f"A keyset cursor cannot order by {item!r}.")
        if name == "pk":
            name = model._meta.pk.name
        return cls(name, descending, nulls_last)

    def reversed(self) -> Key:
        return Key(self.name, not self.descending, not self.nulls_last)

    @property
    def text(self) -> str:
        return ("-" if self.descending else "") + self.name


def _field(queryset: QuerySet[Any], name: str) -> models.Field[Any, Any]:
    annotation = queryset.query.annotations.get(name)
    if annotation is not None:
        output: models.Field[Any, Any] = annotation.output_field
        return output
    try:
        field: models.Field[Any, Any] = queryset.model._meta.get_field(name)
        return field
    except FieldDoesNotExist:
        raise TypeError(f"{queryset.model.__name__} has no ordering key {name!r}.") from None


def _is_text(field: models.Field[Any, Any]) -> bool:
    return isinstance(field, models.CharField | models.TextField)


def _nullable(queryset: QuerySet[Any], name: str) -> bool:
    # An annotation (`Max(...)`) can be null whatever its output field says.
    return name in queryset.query.annotations or _field(queryset, name).null


def _encode(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


class CursorPagination(pagination.BasePagination):
    """Pages in a fixed order, `?ordering=` where the view offers one (its `ordering_fields`).

    `ordering` is the default order; None keeps the order the selector gave (the caseload's risk
    order, for one). Text keys other than the last (a patient's name) are not written into the
    cursor: they are read back from the row the cursor names, so a link holds no PHI.
    A page size that is not a whole number from 1 to 200 is a 400, not silently replaced by the
    default. Only ASCII digits count: `str.isdigit()` also takes `²` (which `int()` refuses) and
    `int()` takes Arabic-Indic or full-width digits, which no client means to send.
    """

    ordering: tuple[str, ...] | None = ("-created_at", "-id")
    ordering_query_param: str | None = "ordering"
    cursor_query_param = "cursor"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not _ASCII_NUMBER.fullmatch(raw) or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"Must be a whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    # Ordering ----------------------------------------------------------------------------------

    def ordering_choices(self, view: Any) -> list[str]:
        """The values `?ordering=` takes on this view: each field, ascending or descending."""
        if self.ordering is None or not self.ordering_query_param:
            return []
        fields = getattr(view, "ordering_fields", None) or ()
        return [value for field in fields for value in (field, f"-{field}")]

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: Any) -> list[Key]:
        model = queryset.model
        param = self.ordering_query_param
        chosen = request.query_params.get(param) if param else None
        if param and chosen is not None and self.ordering is not None:
            choices = self.ordering_choices(view)
            if chosen not in choices:
                raise ValidationError({param: [f"Must be one of: {', '.join(choices)}."]})
            tie = "-id" if chosen.startswith("-") else "id"
            items: list[Any] = [chosen, tie]
        elif self.ordering is not None:
            items = list(self.ordering)
        else:
            items = list(queryset.query.order_by)
            if not items and queryset.query.default_ordering:
                items = list(model._meta.ordering)
        keys = [Key.parse(item, model) for item in items]
        if not keys or keys[-1].name != model._meta.pk.name:
            keys.append(Key(model._meta.pk.name, False, True))
        return keys

    # Cursor ------------------------------------------------------------------------------------

    def decode_cursor(
        self, request: Request, keys: list[Key], queryset: QuerySet[Any]
    ) -> tuple[list[Any], bool] | None:
        raw = request.query_params.get(self.cursor_query_param)
        if raw is None:
            return None
        try:
            payload = json.loads(base64.urlsafe_b64decode(raw.encode("ascii") + b"=" * (-len(raw) % 4)))
            if not isinstance(payload, dict) or payload.get("o") != [key.text for key in keys]:
                raise ValueError
            values, reverse = payload["v"], payload["r"]
            if not isinstance(values, list) or len(values) != len(keys) or not isinstance(reverse, bool):
                raise ValueError
            position = [
                None if value is None else _field(queryset, key.name).to_python(value)
                for key, value in zip(keys, values, strict=True)
            ]
        except (ValueError, TypeError, KeyError, UnicodeError, binascii.Error, DjangoValidationError, OverflowError):
            raise ValidationError({self.cursor_query_param: [_INVALID_CURSOR]}) from None
        if position[-1] is None:
            raise ValidationError({self.cursor_query_param: [_INVALID_CURSOR]})
        return position, reverse

    def encode_cursor(self, row: Any, *, reverse: bool) -> str:
        values = []
        for i, key in enumerate(self.keys):
            value = row[key.name] if isinstance(row, dict) else getattr(row, key.name)
            if i < len(self.keys) - 1 and key.name in self.text_keys:
                value = None if value is None else ""  # read back from the row (see `_after`)
            values.append(_encode(value))
        payload = {"o": [key.text for key in self.keys], "v": values, "r": reverse}
        text = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()
        return replace_query_param(self.base_url, self.cursor_query_param, text.rstrip("="))

    def _after(self, queryset: QuerySet[Any], keys: list[Key], position: list[Any]) -> Q:
        """Rows strictly after `position` in the order `keys`."""
        unique = keys[-1]
        position = list(position)
        for i, key in enumerate(keys[:-1]):
            if key.name in self.text_keys and position[i] is not None:
                # The cursor's row's own value, not one written in the link.
                row = queryset.model._default_manager.filter(**{unique.name: position[-1]}).values(key.name)[:1]
                position[i] = Subquery(row)
        condition = Q(pk__in=[])
        equal = Q()
        for key, value in zip(keys, position, strict=True):
            nullable = _nullable(queryset, key.name)
            lookup = f"{key.name}__{'lt' if key.descending else 'gt'}"
            if value is None:
                after = Q(pk__in=[]) if key.nulls_last else Q(**{f"{key.name}__isnull": False})
            else:
                after = Q(**{lookup: value})
                if nullable and key.nulls_last:
                    after |= Q(**{f"{key.name}__isnull": True})
            condition |= equal & after
            equal &= Q(**{f"{key.name}__isnull": True}) if value is None else Q(**{key.name: value})
        first, value = keys[0], position[0]
        if value is not None and not (_nullable(queryset, first.name) and first.nulls_last):
            # Redundant, but a plain range on the leading key lets an index bound the scan.
            condition &= Q(**{f"{first.name}__{'lte' if first.descending else 'gte'}": value})
        return condition

    @staticmethod
    def _order_by(keys: list[Key]) -> list[OrderBy]:
        # Nulls placed explicitly only where not PostgreSQL's default, which an index serves.
        ordered = []
        for key in keys:
            default = key.nulls_last != key.descending
            nulls = {} if default else {"nulls_last" if key.nulls_last else "nulls_first": True}
            ordered.append(F(key.name).desc(**nulls) if key.descending else F(key.name).asc(**nulls))
        return ordered

    # Paging ------------------------------------------------------------------------------------

    def prepare(self, queryset: Any, request: Request, view: Any = None) -> tuple[Any, list[Key]]:
        """The page size, the order and the cursor of this request (each a 400 when wrong), and the
        rows from the cursor on, in the order they are read (reversed when going back)."""
        self.request = request
        self.base_url = request.build_absolute_uri()
        self.page_size_value = self.get_page_size(request)
        self.keys = self.get_ordering(request, queryset, view)
        self.text_keys = {key.name for key in self.keys if _is_text(_field(queryset, key.name))}
        decoded = self.decode_cursor(request, self.keys, queryset)
        position, reverse = decoded if decoded is not None else (None, False)
        self.reverse, self.position_given = reverse, position is not None
        keys = [key.reversed() for key in self.keys] if reverse else self.keys
        if position is not None:
            queryset = queryset.filter(self._after(queryset, keys, position))
        return queryset, keys

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        queryset, keys = self.prepare(queryset, request, view)
        queryset = queryset.order_by(*self._order_by(keys))
        rows = list(queryset[: self.page_size_value + 1])
        more = len(rows) > self.page_size_value
        rows = rows[: self.page_size_value]
        if self.reverse:
            rows.reverse()
        self.page_read(rows, more=more)
        return rows

    def page_read(self, rows: list[Any], *, more: bool) -> None:
        """The rows shown, in their order (the first and last are enough for the links), and
        whether the read found one past them."""
        self.page = rows
        # Going forward, there is a page before this one if we came from a cursor; going back,
        # there is a page after (the one we came from).
        self.has_next = more if not self.reverse else True
        self.has_previous = self.position_given if not self.reverse else more

    def get_next_link(self) -> str | None:
        if not self.has_next or not self.page:
            return None
        return self.encode_cursor(self.page[-1], reverse=False)

    def get_previous_link(self) -> str | None:
        if not self.has_previous:
            return None
        if not self.page:
            return remove_query_param(self.base_url, self.cursor_query_param)
        return self.encode_cursor(self.page[0], reverse=True)

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            OrderedDict([("next", self.get_next_link()), ("previous", self.get_previous_link()), ("results", data)])
        )

    # Schema ------------------------------------------------------------------------------------

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        link = {"type": "string", "nullable": True, "format": "uri"}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {
                    **link,
                    "description": "The next page, or null on the last.",
                    "example": "https://aftercare.example.org/api/v1/patients/?cursor=eyJwIjpbIjIwMjYtMTEtMjQifQ",
                },
                "previous": {**link, "description": "The page before, or null on the first.", "example": None},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Where a page starts: take it from the `next` or `previous` link, never build it.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows a page (default {self.page_size}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
        ]
        choices = self.ordering_choices(view)
        if choices:
            default = ",".join(self.ordering or ())
            parameters.append(
                {
                    "name": self.ordering_query_param,
                    "required": False,
                    "in": "query",
                    "description": (
                        f"The order of the rows (`-` for descending; default `{default}`); ties are broken by "
                        "`id`. `updated_at` with `updated_since` suits incremental sync."
                    ),
                    "schema": {"type": "string", "enum": choices},
                }
            )
        return parameters


class SelectorOrderPagination(CursorPagination):
    """Pages in the order the selector gives (no `?ordering=`): the caseload's risk order, an
    appointment's attendance history in the order it was recorded."""

    ordering = None


class OnePage(pagination.BasePagination):
    """The list envelope around a short list that is always whole (the risk rules, fixed in code):
    the same shape as every other list, with no page before or after."""

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any]:
        return list(queryset)

    def get_paginated_response(self, data: Any) -> Response:
        return Response(OrderedDict([("next", None), ("previous", None), ("results", data)]))

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return CursorPagination().get_paginated_response_schema(schema)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return []
