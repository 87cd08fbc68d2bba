"""The API's JSON parser: DRF's, refusing bodies nested deeper than any resource needs.

Python's JSON decoder recurses once per level, so a body of a few kilobytes of `[` exhausts the
interpreter's stack (RecursionError) before a view sees it, and the parser runs as early as
authentication (the bearer-token check reads the body). Deep bodies that do decode would also
reach serializers and PostgreSQL's jsonb. Both are a 400 `parse_error` instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

# The deepest resource (a plan's emergency plan, a list of support persons) nests three levels.
MAX_DEPTH = 32
TOO_DEEP = f"JSON parse error - nested deeper than {MAX_DEPTH} levels."


def nesting_depth_exceeds(data: Any, limit: int) -> bool:
    """Whether `data` holds containers more than `limit` levels deep (iteratively: no recursion)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, Mapping):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, Mapping | list))
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
        if nesting_depth_exceeds(data, MAX_DEPTH):
            raise ParseError(TOO_DEEP)
        return data
