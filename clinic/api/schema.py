"""OpenAPI generation: the shared headers, error responses and per-operation OAuth2 scopes."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from drf_standardized_errors.openapi import AutoSchema as StandardizedErrorsAutoSchema

from clinic.auth.caller import CLINIC_HEADER
from clinic.auth.permissions import required_scopes

IDEMPOTENCY_HEADER = "Idempotency-Key"


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
        return parameters

    def _get_extra_validation_errors(self) -> dict[str, set[str]]:
        """Headers are validated too, and a 400 names them like fields."""
        extra: dict[str, set[str]] = dict(super()._get_extra_validation_errors())
        extra[CLINIC_HEADER] = {"invalid"}
        if self._is_list_view():
            extra["page_size"] = {"invalid"}
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

    def _get_validation_error_codes_by_field(self, data_fields: Any) -> dict[str, set[str]]:
        codes: dict[str, set[str]] = super()._get_validation_error_codes_by_field(data_fields)
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
        if status_code == "413":
            return self.method in ("POST", "PUT", "PATCH") and status_code not in responses
        result: bool = super()._should_add_error_response(responses, status_code)
        return result


class ScopedOAuth2Scheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """Bearer tokens from `/o/token/` (client credentials), with the scopes each operation needs."""

    target_class = "clinic.auth.authentication.BearerAuthentication"
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
