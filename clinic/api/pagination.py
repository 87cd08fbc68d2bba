from __future__ import annotations

import re
from typing import Any

from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

_ASCII_NUMBER = re.compile(r"[0-9]{1,6}")


class CursorPagination(pagination.CursorPagination):
    """Stable pages under concurrent writes: a cursor, not an offset.

    Ordered by creation time by default; `?ordering=updated_at` suits incremental sync with
    `updated_since`. A page size that is not a whole number from 1 to 200 is a 400, not silently
    replaced by the default. Only ASCII digits count: `str.isdigit()` also takes `²` (which `int()`
    refuses) and `int()` takes Arabic-Indic or full-width digits, which no client means to send.
    """

    ordering = ("-created_at", "-id")
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

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
        return parameters
