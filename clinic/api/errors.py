"""One error shape for every 4xx: `{"type": …, "errors": [{"code", "detail", "attr"}]}`.

drf-standardized-errors formats DRF's exceptions and documents them in the schema; this module adds
the domain's own errors and turns a Django `ValidationError` raised by a service (`full_clean()`)
into the same 400, naming each field.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from drf_standardized_errors.handler import ExceptionHandler as BaseExceptionHandler
from drf_standardized_errors.openapi_serializers import ClientErrorEnum
from rest_framework import exceptions, serializers
from rest_framework.settings import api_settings

from clinic.auth.authentication import INVALID_TOKEN
from clinic.errors import Conflict


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is larger than this server accepts."
    default_code = "request_too_large"


class StateConflict(exceptions.APIException):
    """A service's `Conflict`: 409, naming the field whose current state is in the way."""

    status_code = 409
    default_detail = "The record's current state does not allow this."
    default_code = "conflict"


class IdempotencyKeyReused(exceptions.APIException):
    status_code = 422
    default_detail = "This Idempotency-Key was already used with a different request body or path."
    default_code = "idempotency_key_reused"


class PreconditionFailed(exceptions.APIException):
    status_code = 412
    default_detail = "The object changed since the version named in If-Match: read it again, then retry."
    default_code = "precondition_failed"


def django_validation_error_to_drf(exc: DjangoValidationError) -> exceptions.ValidationError:
    if hasattr(exc, "error_dict"):
        detail: Any = {
            (api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field): messages
            for field, messages in exc.message_dict.items()
        }
    else:
        detail = {api_settings.NON_FIELD_ERRORS_KEY: exc.messages}
    return exceptions.ValidationError(detail)


class ExceptionHandler(BaseExceptionHandler):
    def convert_known_exceptions(self, exc: Exception) -> Exception:
        if isinstance(exc, Conflict):
            detail: Any = django_validation_error_to_drf(exc).detail
            # Plain text again, so that every message takes the code `conflict`.
            return StateConflict({field: [str(message) for message in messages] for field, messages in detail.items()})
        if isinstance(exc, DjangoValidationError):
            return django_validation_error_to_drf(exc)
        if isinstance(exc, RequestDataTooBig):
            # Raised wherever the body is first read, authentication included.
            return RequestTooLarge()
        return super().convert_known_exceptions(exc)


def _one_code_error_response(status: int, code: str | list[tuple[str, str]]) -> type[serializers.Serializer[Any]]:
    """The documented body of a 4xx with its code (or codes), in the one error shape (for the schema)."""
    item = type(
        f"_Error{status}Serializer",
        (serializers.Serializer,),
        {
            "code": serializers.ChoiceField(choices=[code] if isinstance(code, str) else code),
            "detail": serializers.CharField(),
            "attr": serializers.CharField(allow_null=True),
        },
    )
    return type(
        f"Error{status}ResponseSerializer",
        (serializers.Serializer,),
        {"type": serializers.ChoiceField(choices=ClientErrorEnum.choices), "errors": item(many=True)},
    )


Error409ResponseSerializer = _one_code_error_response(409, StateConflict.default_code)
# No credentials at all, or a bearer token that is not good (clinic.auth.authentication).
ERROR_401_CODES = [
    (exceptions.NotAuthenticated.default_code, "No credentials: no bearer token and no signed-in session"),
    (INVALID_TOKEN, "The bearer token is unknown, expired or revoked, or its client is deactivated"),
]
Error401ResponseSerializer = _one_code_error_response(401, ERROR_401_CODES)
Error413ResponseSerializer = _one_code_error_response(413, RequestTooLarge.default_code)
Error412ResponseSerializer = _one_code_error_response(412, PreconditionFailed.default_code)
Error422ResponseSerializer = _one_code_error_response(422, IdempotencyKeyReused.default_code)


_JSON_PREFIXES = ("/api/", "/fhir/", "/o/")


def _error(error_type: str, code: str, detail: str, status: int) -> JsonResponse:
    return JsonResponse({"type": error_type, "errors": [{"code": code, "detail": detail, "attr": None}]}, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """A request Django refuses before any view (an oversized body, too many form fields): the
    API's error shape under the API, Django's page elsewhere (the admin), 413 for a body too big."""
    too_big = isinstance(exception, RequestDataTooBig)
    if request.path.startswith(_JSON_PREFIXES):
        if too_big:
            return _error("client_error", RequestTooLarge.default_code, str(RequestTooLarge.default_detail), 413)
        return _error("client_error", "bad_request", "Bad request.", 400)
    response = defaults.bad_request(request, exception or Exception())
    if too_big:
        response.status_code = 413
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """A URL that matches no route: the API's error shape under the API, Django's page elsewhere."""
    if request.path.startswith(_JSON_PREFIXES):
        return _error("client_error", "not_found", "Not found.", 404)
    return defaults.page_not_found(request, exception or Http404())


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(_JSON_PREFIXES):
        return _error("server_error", "error", "Server Error (500)", 500)
    return defaults.server_error(request)
