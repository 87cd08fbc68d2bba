"""Postprocessing hooks: what the generated document needs after drf-spectacular has built it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any


def index_placeholders_to_patterns(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Errors in list items name the item (`support_persons.0.phone`); drf-standardized-errors
    documents them as `support_persons.INDEX.phone`. Describe them with a pattern that matches."""
    for schema in result.get("components", {}).get("schemas", {}).values():
        attr = schema.get("properties", {}).get("attr") if isinstance(schema, dict) else None
        if not isinstance(attr, dict):
            continue
        values = attr.get("enum")
        if not values or not any(".INDEX" in str(value) or str(value).startswith("INDEX") for value in values):
            continue
        alternatives = "|".join(re.escape(str(value)).replace("INDEX", "[0-9]+") for value in values)
        del attr["enum"]
        attr["pattern"] = f"^(?:{alternatives})$"
    return result


def document_retry_after(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Every 429 (clinic.api.throttling) says when to come back."""
    header = {
        "Retry-After": {
            "description": "Seconds until this caller's rate limit lifts.",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        }
    }
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            throttled = operation.get("responses", {}).get("429") if isinstance(operation, dict) else None
            if isinstance(throttled, dict):
                throttled.setdefault("headers", {}).update(header)
    return result


def open_error_unions(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """An operation's validation errors are told apart by `attr`, but not every `attr` is one known
    value: list items are named by index (a pattern) and an unknown field by whatever the client
    sent. A `discriminator` mapping would promise otherwise, so those unions are plain `oneOf`s
    (each member's `code` and `attr` still tell them apart)."""
    schemas = result.get("components", {}).get("schemas", {})
    for schema in schemas.values():
        if not isinstance(schema, dict) or schema.get("discriminator", {}).get("propertyName") != "attr":
            continue
        members = [schemas.get(ref["$ref"].rsplit("/", 1)[-1], {}) for ref in schema.get("oneOf", []) if "$ref" in ref]
        attrs = [member.get("properties", {}).get("attr", {}) for member in members]
        if any("enum" not in attr for attr in attrs):
            del schema["discriminator"]
    return result


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"].rsplit("/", 1)[-1]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def request_bodies_are_closed(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """A request body holds only the properties its schema names (`additionalProperties: false`):
    anything else is a 400 `unknown_field`. The server also ignores the resource's read-only
    fields (`id`, `created_at`, …) when a client sends back what it read; the schema leaves them
    out of the request, which a client need not send."""
    schemas = result.get("components", {}).get("schemas", {})
    pending = [
        name
        for operations in result.get("paths", {}).values()
        for operation in operations.values()
        if isinstance(operation, dict)
        for name in _refs(operation.get("requestBody", {}))
    ]
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen or name not in schemas:
            continue
        seen.add(name)
        schema = schemas[name]
        if schema.get("type") == "object" and "properties" in schema:
            schema["additionalProperties"] = False
        pending.extend(_refs(schema))
    return result
