"""The schema class: operation names, the shared headers, error responses, examples and
per-operation OAuth2 scopes.

What the schema says to integrators is written for them: in `extend_schema` (summary, description),
in fields' `help_text` and in the example modules. View docstrings are for developers and never
reach the schema; a serializer's own docstring describes its component.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, PolymorphicProxySerializer
from drf_standardized_errors.openapi import AutoSchema as StandardizedErrorsAutoSchema
from drf_standardized_errors.openapi_serializers import ValidationErrorEnum
from drf_standardized_errors.openapi_utils import get_error_serializer
from inflection import camelize
from rest_framework import serializers

from clinic.api.pagination import CursorPagination
from clinic.api.serializers import EARLIEST_YEAR, LATEST_YEAR, UNKNOWN_FIELD, CalendarDateField, InstantField
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


# What clinic.api.idempotency accepts: 1 to 255 characters for which `str.isprintable()` holds.
# A header arrives as Latin-1, so that is space, visible ASCII and Latin-1 but for NBSP and soft hyphen.
IDEMPOTENCY_KEY_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": 255,
    "pattern": "^[\\u0020-\\u007E\\u00A1-\\u00AC\\u00AE-\\u00FF]+$",
}
_YEARS = f"years {EARLIEST_YEAR} to {LATEST_YEAR}"
_YEARS_TEXT = {
    "date": f"A date in the {_YEARS}; another is refused with `out_of_range`.",
    "date-time": f"An instant in the {_YEARS} (in UTC); another is refused with `out_of_range`.",
}

# operationIds are `<resource>_<action>`, the house naming of services: an operation on one object
# names it in the singular (`patient_retrieve`, `flag_acknowledge`), one on the collection in the
# plural (`patients_list`, `access_events_export`). A generated client's method names come from
# them. Where the derived name reads badly, or a verb says more than `create`, it is named here.
_OPERATION_NAMES: dict[tuple[str, str, str], str] = {
    ("appointment", "create", "POST"): "appointment_book",
    ("appointment", "partial_update", "PATCH"): "appointment_move",
    ("appointment", "attendance", "POST"): "attendance_record",
    ("group-session", "attendance", "POST"): "group_attendance_record",
    ("support-group", "members", "GET"): "support_group_members_list",
    ("support-group", "members", "POST"): "group_membership_add",
    ("support-group", "leave", "POST"): "group_membership_end",
    ("outside-meeting", "create", "POST"): "outside_meeting_record",
    ("outreach-attempt", "create", "POST"): "outreach_attempt_record",
    ("patient-consent", "create", "POST"): "consent_record",
    ("patient-disclosure", "create", "POST"): "disclosure_release",
    ("risk-rule", "partial_update", "PATCH"): "risk_rule_update",
    ("dashboard", "summary", "GET"): "dashboard_summary",
    ("dashboard", "caseload", "GET"): "caseload_list",
}
# A resource under `patients/{patient_id}/` is named for itself: the path already says whose.
_RESOURCE_NAMES = {"patient-consent": "consent", "patient-disclosure": "disclosure"}
_SAME_IN_THE_PLURAL = ("series", "staff")
_ONE_OBJECT_ACTIONS = {"retrieve", "create", "update", "partial_update", "destroy", "upsert"}


def _plural(name: str) -> str:
    return name if name.endswith(_SAME_IN_THE_PLURAL) else f"{name}s"


@functools.cache
def registered_examples() -> Mapping[str, Sequence[OpenApiExample]]:
    """Every operation's examples by operationId, from the modules `AFTERCARE_SCHEMA_EXAMPLES`
    names (by string, so `clinic` never imports `aftercare`)."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    examples: dict[str, list[OpenApiExample]] = {}
    for path in settings.AFTERCARE_SCHEMA_EXAMPLES:
        for operation_id, listed in import_string(path).items():
            examples.setdefault(operation_id, []).extend(listed)
    return examples


class AutoSchema(StandardizedErrorsAutoSchema):
    def get_operation_id(self) -> str:
        basename = getattr(self.view, "basename", None)
        action = getattr(self.view, "action", None)
        if basename is None or action is None:
            return str(super().get_operation_id())
        named = _OPERATION_NAMES.get((basename, action, self.method))
        if named is not None:
            return named
        one = _RESOURCE_NAMES.get(basename, basename).replace("-", "_")
        if action == "list":
            return f"{_plural(one)}_list"
        if action in _ONE_OBJECT_ACTIONS:
            return f"{one}_{action}"
        if not getattr(self.view, "detail", True):
            return f"{_plural(one)}_{action}"
        if self.method == "GET" and self._is_list_view():
            return f"{one}_{action}_list"
        return f"{one}_{action}"

    def get_description(self) -> str:  # type: ignore[override]
        # Only what `extend_schema(description=…)` says: view docstrings are for developers.
        return ""

    def get_examples(self) -> list[OpenApiExample]:
        return [*super().get_examples(), *registered_examples().get(self.get_operation_id(), ())]

    def _map_basic_serializer(self, serializer: Any, direction: str) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_basic_serializer(serializer, direction)  # type: ignore[no-untyped-call]
        # drf-spectacular takes the first docstring up the class hierarchy, so a mixin's notes
        # for developers would describe every resource: only the class's own docstring counts.
        own = type(serializer).__dict__.get("__doc__")
        if own:
            schema["description"] = inspect.cleandoc(own)
        else:
            schema.pop("description", None)
        if direction == "request":
            fields = serializer.fields if isinstance(serializer, serializers.Serializer) else {}
            for name, field in fields.items():
                bounded = isinstance(field, InstantField | CalendarDateField) and not field.read_only
                documented = schema.get("properties", {}).get(name)
                if bounded and isinstance(documented, dict) and documented.get("format") in _YEARS_TEXT:
                    text = _YEARS_TEXT[documented["format"]]
                    documented["description"] = " ".join(filter(None, [documented.get("description"), text]))
        return schema

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
                    IDEMPOTENCY_KEY_SCHEMA,
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
