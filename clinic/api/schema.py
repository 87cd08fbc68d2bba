"""OpenAPI generation: the shared headers, error responses and per-operation OAuth2 scopes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer
from drf_standardized_errors.openapi import AutoSchema as StandardizedErrorsAutoSchema
from drf_standardized_errors.openapi_serializers import ValidationErrorEnum
from drf_standardized_errors.openapi_utils import get_error_serializer
from inflection import camelize
from rest_framework import serializers

from clinic.api.pagination import CursorPagination
from clinic.api.serializers import UNKNOWN_FIELD
from clinic.api.views import IF_MATCH
from clinic.auth.caller import CLINIC_HEADER
from clinic.auth.permissions import required_scopes

IDEMPOTENCY_HEADER = "Idempotency-Key"
_BODY_METHODS = ("POST", "PUT", "PATCH")


def _unknown_field_error(operation_id: str) -> type[serializers.Serializer[Any]]:
    """The error naming a field the request body holds and the operation does not take."""
    return type(
        f"{camelize(operation_id)}UnknownFieldErrorSerializer",
        (serializers.Serializer,),
        {
            "attr": serializers.CharField(
                help_text="The unknown field's path in the body (`xyz`, `emergency_plan.xyz`, `support_persons.0.xyz`)."
            ),
            "code": serializers.ChoiceField(choices=[UNKNOWN_FIELD]),
            "detail": serializers.CharField(),
            "Meta": type("Meta", (), {"ref_name": f"{camelize(operation_id)}UnknownFieldErrorComponent"}),
        },
    )


class AutoSchema(StandardizedErrorsAutoSchema):
    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        parameters.append(
            OpenApiParameter(
                CLINIC_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=False,
                description=(
                    "Staff sessions only: the slug of the clinic to act for, when the user works for "
                    "several. Integration clients are bound to one clinic and never send it."
                ),
            )
        )
        if self.method == "POST":
            parameters.append(
                OpenApiParameter(
                    IDEMPOTENCY_HEADER,
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    required=False,
                    description=(
                        "A unique key (1 to 255 printable characters) per logical request. Replaying "
                        "the same key and body returns the first response with "
                        "`Idempotent-Replayed: true`; the same key with another body is 422."
                    ),
                )
            )
        if self._is_conditional_write():
            parameters.append(
                OpenApiParameter(
                    IF_MATCH,
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    required=False,
                    description=(
                        "Recommended: the `ETag` of the object as last read. The write happens only if the "
                        "object is still that version, otherwise 412 `precondition_failed` (read it again, "
                        "merge, retry). Without it the write overwrites whatever is there."
                    ),
                )
            )
        if self._carries_etag():
            parameters.append(
                OpenApiParameter(
                    "ETag",
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    response=[200, 201],
                    required=True,
                    description="The object's version, for `If-Match` on a later write (a strong validator).",
                )
            )
        return parameters

    def _is_detail_path(self) -> bool:
        return "{id}" in self.path

    def _is_conditional_write(self) -> bool:
        """`If-Match` applies: a write to the object a detail URL names, or an upsert."""
        if self.method in ("PUT", "PATCH"):
            return True
        return self.method in ("POST", "DELETE") and self._is_detail_path()

    def _carries_etag(self) -> bool:
        """The 2xx body is the object itself (clinic.api.views.ClinicScopedViewSet.carries_etag)."""
        if self._is_list_view() or self.method not in ("GET", "POST", "PUT", "PATCH"):
            return False
        action = getattr(self.view, "action", None)
        if action in ("retrieve", "create", "update", "partial_update", "upsert"):
            return True
        if not self._is_detail_path():
            return False
        response = self.get_response_serializers()
        if isinstance(response, dict):
            response = response.get(200, response.get(201))
        view: Any = self.view
        view_action = view.action
        view.action = "retrieve"
        try:
            own = view.get_serializer_class()
        finally:
            view.action = view_action
        return response is None or (isinstance(response, type) and issubclass(response, own)) or type(response) is own

    def _get_extra_validation_errors(self) -> dict[str, set[str]]:
        """Headers are validated too, and a 400 names them like fields."""
        extra: dict[str, set[str]] = dict(super()._get_extra_validation_errors())
        extra[CLINIC_HEADER] = {"invalid"}
        paginator = self._get_paginator() if self._is_list_view() else None  # type: ignore[no-untyped-call]
        if isinstance(paginator, CursorPagination):
            extra[paginator.page_size_query_param] = {"invalid"}
            extra[paginator.cursor_query_param] = {"invalid"}
            if paginator.ordering_query_param and paginator.ordering_choices(self.view):
                extra[paginator.ordering_query_param] = {"invalid"}
        if self._is_list_view():
            # StrictFilterSet refuses a present-but-empty parameter of any filter.
            filterset = getattr(self.view, "filterset_class", None)
            for name in getattr(filterset, "base_filters", {}):
                extra.setdefault(name, set()).add("invalid")
        if self.method == "POST":
            extra[IDEMPOTENCY_HEADER] = {"invalid"}
        # A view's own query parameters checked outside a filterset, per action.
        action_extra = getattr(self.view, "extra_validation_errors", {}).get(getattr(self.view, "action", None), {})
        for name, codes in action_extra.items():
            extra.setdefault(name, set()).update(codes)
        return extra

    def _has_request_body(self) -> bool:
        if self.method not in _BODY_METHODS:
            return False
        request_serializer = self.get_request_serializer()
        return isinstance(request_serializer, serializers.Field) or (
            isinstance(request_serializer, type) and issubclass(request_serializer, serializers.Field)
        )

    def _get_serializer_for_validation_error_response(self) -> Any:
        """drf-standardized-errors' validation error, plus the error naming an unknown body field
        (`ClinicScopedViewSet.validated`), whose `attr` is whatever the client sent."""
        if not self._has_request_body():
            return super()._get_serializer_for_validation_error_response()
        codes_by_field = self._get_validation_error_codes_by_field(self._determine_fields_with_error_codes())
        operation_id = self.get_operation_id()
        items: dict[str, Any] = {
            name: get_error_serializer(operation_id, name, codes) for name, codes in codes_by_field.items()
        }
        items[UNKNOWN_FIELD] = _unknown_field_error(operation_id)
        return type(
            "ValidationErrorSerializer",
            (serializers.Serializer,),
            {
                "type": serializers.ChoiceField(choices=ValidationErrorEnum.choices),
                "errors": PolymorphicProxySerializer(
                    component_name=f"{camelize(operation_id)}Error",
                    resource_type_field_name="attr",
                    serializers=items,
                    many=True,
                ),
                "Meta": type("Meta", (), {"ref_name": f"{camelize(operation_id)}ValidationError"}),
            },
        )

    def _get_validation_error_codes_by_field(self, data_fields: Any) -> dict[str, set[str]]:
        codes: dict[str, set[str]] = super()._get_validation_error_codes_by_field(data_fields)
        if self.method in ("POST", "PUT"):
            # A field given one way or another (`clinician` or `clinician_external_id`) is required
            # by the serializer's own check, not by DRF, which documents it as optional.
            for data_field in data_fields:
                serializer = getattr(data_field.field, "parent", None)
                if data_field.name in getattr(serializer, "required_one_of", ()):
                    codes.setdefault(data_field.name, set()).add("required")
        if self.method in ("POST", "PUT", "PATCH"):
            # Services check domain rules (full_clean, overlaps, transitions) and name the field
            # with the code `invalid`, whatever the field's own type would raise.
            for name, field_codes in list(codes.items()):
                field_codes.add("invalid")
                if name.endswith("non_field_errors"):
                    # A nested list's own limits (many=True with min_length/max_length).
                    field_codes.update({"max_length", "min_length", "empty"})
                if name.endswith(".non_field_errors"):
                    # A nested object (or a list item) that is null or missing altogether is named
                    # itself (`emergency_plan`, `support_persons.3`), not its `non_field_errors`.
                    codes.setdefault(name.removesuffix(".non_field_errors"), set()).update({"null", "required"})
        return codes

    def _should_add_error_response(self, responses: dict[str, Any], status_code: str) -> bool:
        if status_code == "422":
            return self.method == "POST" and status_code not in responses
        if status_code == "409":
            # Where the service may refuse because of the record's state (`clinic.errors.Conflict`).
            conflicts = getattr(self.view, "conflict_actions", ())
            return (
                self.method != "GET"
                and getattr(self.view, "action", None) in conflicts
                and status_code not in responses
            )
        if status_code == "412":
            return self._is_conditional_write() and status_code not in responses
        if status_code == "413":
            return self.method in ("POST", "PUT", "PATCH") and status_code not in responses
        result: bool = super()._should_add_error_response(responses, status_code)
        return result


class ScopedOAuth2Scheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """Bearer tokens from `/o/token/` (client credentials), with the scopes each operation needs."""

    target_class = "oauth2_provider.contrib.rest_framework.OAuth2Authentication"
    name = "oauth2"
    priority = 1

    def get_security_requirement(self, auto_schema: SpectacularAutoSchema) -> dict[str, list[str]]:
        view = auto_schema.view
        return {self.name: sorted(required_scopes(view, view.request))}

    def get_security_definition(self, auto_schema: SpectacularAutoSchema) -> dict[str, Any]:
        from clinic.auth.scopes import SCOPES

        return {
            "type": "oauth2",
            "flows": {"clientCredentials": {"tokenUrl": "/o/token/", "scopes": SCOPES}},
        }


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
