"""Bearer tokens (RFC 6750) for integration clients: a token that is sent but not good is said to be so.

The token, its integration client and the client's clinic are read in one indexed query (by the
token's SHA-256 checksum, as django-oauth-toolkit stores tokens), which is all the caller of an API
request is made of (clinic.auth.caller). The toolkit's own path, which remains for the rare token it
alone can judge (one bound to a user or to a resource, RFC 8707), reads the token through oauthlib
and leaves the client and clinic to a second query, each compiled by the ORM on every request: on a
list page, under a profiler, the two were over a third of the time.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from django.db import connection
from django.db.models import Model
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.models import AccessToken
from rest_framework import exceptions
from rest_framework.request import Request

from clinic.models import Clinic, IntegrationClient

INVALID_TOKEN = "invalid_token"  # noqa: S105 (an error code)
INACTIVE_CLIENT = "The client of this access token is not active."


class InvalidToken(exceptions.AuthenticationFailed):
    """RFC 6750 §3.1 `invalid_token`: unknown, expired or revoked, or its client or clinic deactivated."""

    default_detail = "The access token is invalid, expired or revoked: request a new one from /o/token/."
    default_code = INVALID_TOKEN


def invalid_token(request: Request, description: str) -> InvalidToken:
    """The 401 for a token that did not pass, with the challenge (`WWW-Authenticate`) naming why."""
    request.oauth2_error = {"error": INVALID_TOKEN, "error_description": description}  # type: ignore[attr-defined]
    return InvalidToken()


def bearer_token(request: Any) -> str | None:
    """The token of `Authorization: Bearer <token>`, read as oauthlib reads it (two words, the
    scheme in any case); None for any other header or none."""
    words = request.headers.get("Authorization", "").split()
    return words[1] if len(words) == 2 and words[0].lower() == "bearer" else None


def sends_bearer_token(request: Request) -> bool:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(credentials.strip())


_JOINED: tuple[tuple[type[Model], str], ...] = ((AccessToken, "t"), (IntegrationClient, "c"), (Clinic, "k"))


@functools.cache
def _token_query() -> str:
    """SELECT every column of the token, its client and the clinic, by the token's checksum (a
    unique index). Written once from the models' own metadata, so a new column is read too."""
    columns = ", ".join(
        f'{alias}."{field.column}"' for model, alias in _JOINED for field in model._meta.concrete_fields
    )
    token, client, clinic = (model._meta.db_table for model, _ in _JOINED)
    return (
        f"SELECT {columns} FROM {token} t "  # noqa: S608 (table and column names from the models)
        f'LEFT JOIN {client} c ON c."application_id" = t."application_id" '
        f'LEFT JOIN {clinic} k ON k."id" = c."clinic_id" '
        'WHERE t."token_checksum" = %s'
    )


@functools.cache
def _loading(model: type[Model]) -> tuple[list[str], list[tuple[Any, list[Any]]]]:
    """A model's column names, and each column's field with the converters the ORM applies to
    what the database returns for it (a JSON column decoded, for one): worked out once."""
    loading = []
    for field in model._meta.concrete_fields:
        column: Any = field  # the ORM passes the column's expression; the field serves as well here
        loading.append((field, [*column.get_db_converters(connection), *connection.ops.get_db_converters(column)]))
    return [field.attname for field in model._meta.concrete_fields], loading


def _instance(model: type[Model], values: list[Any]) -> Any:
    """A model instance from its columns as the database returned them, converted as the ORM
    converts them."""
    if values[0] is None:  # the LEFT JOIN found no row
        return None
    names, loading = _loading(model)
    converted = []
    for (field, converters), value in zip(loading, values, strict=True):
        for converter in converters:
            value = converter(value, field, connection)
        converted.append(value)
    return model.from_db(connection.alias, names, converted)


def token_with_client(value: str) -> tuple[AccessToken | None, IntegrationClient | None]:
    """The access token whose value this is, and its integration client with the client's clinic
    loaded (None where there is none): one query."""
    checksum = hashlib.sha256(value.encode("utf-8")).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute(_token_query(), [checksum])
        row = cursor.fetchone()
    if row is None:
        return None, None
    values, parts = list(row), []
    for model, _ in _JOINED:
        width = len(model._meta.concrete_fields)
        parts.append(_instance(model, values[:width]))
        values = values[width:]
    token, client, clinic = parts
    if client is not None:
        client.clinic = clinic
    return token, client


class BearerAuthentication(OAuth2Authentication):
    """django-oauth-toolkit's authentication, except that a bearer token which fails is a 401
    `invalid_token` at once. The toolkit answers None, and DRF goes on to the session and ends with
    "credentials were not provided", which sends an integrator looking for a missing header.

    A client-credentials token (the only grant here) is judged as the toolkit's `is_valid()`
    judges it, in the one query of `token_with_client`; its caller is made at once
    (clinic.auth.caller). Any other token takes the toolkit's path.
    """

    def authenticate(self, request: Request) -> Any:
        # The body is parsed first, as the toolkit's authentication parses it (it reads form
        # parameters): a malformed, oversized or non-JSON body is the same 400, 413 or 415 for
        # every caller, whatever its credentials (tests/clinic/test_client_errors.py).
        request.POST  # noqa: B018
        value = bearer_token(request)
        if value is None:
            return None  # no bearer token: the session's turn
        token, client = token_with_client(value)
        if token is None:
            raise invalid_token(request, "The access token is invalid.")
        if token.user_id is not None or token.resource:
            return self._toolkit_authenticate(request)
        if token.is_expired():
            raise invalid_token(request, "The access token has expired.")
        from clinic.auth.caller import caller_of_client

        request._aftercare_caller = caller_of_client(request, token, client)  # type: ignore[attr-defined]
        return None, token

    def _toolkit_authenticate(self, request: Request) -> Any:
        result = super().authenticate(request)
        if result is None and sends_bearer_token(request):
            error = getattr(request, "oauth2_error", None) or {}
            raise invalid_token(request, str(error.get("error_description") or "The access token is invalid."))
        return result
