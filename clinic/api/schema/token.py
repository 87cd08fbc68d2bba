"""The OAuth2 token endpoint in the schema (django-oauth-toolkit's view, not a DRF view)."""

from __future__ import annotations

from typing import Any

TOKEN_PATH = "/o/token/"  # noqa: S105 (a URL path)
# What the toolkit answers (RFC 6749 §5.2): a client that fails to authenticate is 401, any other
# refusal 400.
TOKEN_ERRORS_400 = [
    "invalid_request",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
]
TOKEN_ERRORS_401 = ["invalid_client"]
_NO_STORE = {
    "Cache-Control": {
        "description": "`no-store`: a token response is never cached (RFC 6749 §5.1).",
        "schema": {"type": "string"},
    }
}


def _token_error(codes: list[str], example: str, description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "properties": {
            "error": {"type": "string", "enum": codes},
            "error_description": {"type": "string", "description": "Text for the developer, when there is one."},
        },
        "required": ["error"],
        "example": {"error": example},
    }


def document_token_endpoint(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """`POST /o/token/`: client credentials for an access token, with RFC 6749's error bodies (not
    the API's error shape) and the API's 429 when a client id or address is over its rate."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["TokenRequest"] = {
        "type": "object",
        "properties": {
            "grant_type": {"type": "string", "enum": ["client_credentials"]},
            "client_id": {"type": "string", "description": "Or in HTTP Basic credentials (RFC 6749 §2.3.1)."},
            "client_secret": {"type": "string", "description": "Or in HTTP Basic credentials (RFC 6749 §2.3.1)."},
            "scope": {
                "type": "string",
                "description": (
                    "Space-separated scopes, each one the client was granted. Without it the token "
                    "carries every scope the client holds."
                ),
            },
        },
        "required": ["grant_type"],
    }
    schemas["TokenResponse"] = {
        "type": "object",
        "properties": {
            "access_token": {"type": "string", "description": "Send as `Authorization: Bearer <access_token>`."},
            "token_type": {"type": "string", "enum": ["Bearer"]},
            "expires_in": {"type": "integer", "minimum": 1, "description": "Seconds the token is valid for."},
            "scope": {"type": "string", "description": "The scopes the token carries, space-separated."},
        },
        "required": ["access_token", "token_type", "expires_in", "scope"],
    }
    schemas["TokenError400"] = _token_error(
        TOKEN_ERRORS_400,
        "invalid_scope",
        (
            "RFC 6749 §5.2. `invalid_request`: a parameter is missing, repeated or malformed. "
            "`unsupported_grant_type`: the grant is missing or not `client_credentials`. "
            "`unauthorized_client`, `invalid_grant`: a grant this client may not use. "
            "`invalid_scope`: a scope the client was not granted, or none such."
        ),
    )
    schemas["TokenError401"] = _token_error(
        TOKEN_ERRORS_401,
        "invalid_client",
        "RFC 6749 §5.2: unknown client, wrong secret, no credentials, or the client or its clinic deactivated.",
    )
    form = "application/x-www-form-urlencoded"
    request_example = {
        "grant_type": "client_credentials",
        "client_id": "x7Hq2mVt9LpK4sWc",
        "client_secret": "example-secret-do-not-use",
        "scope": "patients:read schedule:read",
    }
    token_example = {
        "access_token": "q9mZ2xV4bT7nK1pR8sW3yH6cJ0dL5fGa",
        "token_type": "Bearer",
        "expires_in": 3600,
        "scope": "patients:read schedule:read",
    }
    result.setdefault("paths", {})[TOKEN_PATH] = {
        "post": {
            "operationId": "access_token_create",
            "summary": "Get an access token (OAuth2 client credentials)",
            "description": (
                "RFC 6749 §4.4. The client authenticates with `client_id` and `client_secret`, in the "
                "form or as HTTP Basic credentials. Refusals follow RFC 6749 §5.2 (`error`, "
                "`error_description`), not the API's error shape; only the rate limit answers in the "
                "API's shape. A token is valid for `expires_in` seconds; ask for a new one then (there "
                "are no refresh tokens)."
            ),
            "tags": ["oauth2"],
            "security": [],
            "requestBody": {
                "required": True,
                "content": {
                    form: {
                        "schema": {"$ref": "#/components/schemas/TokenRequest"},
                        "examples": {"ClientCredentials": {"value": request_example}},
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "The access token.",
                    "headers": _NO_STORE,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/TokenResponse"},
                            "examples": {"Issued": {"value": token_example}},
                        }
                    },
                },
                "400": {
                    "description": "The request is refused (RFC 6749 §5.2).",
                    "headers": _NO_STORE,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/TokenError400"},
                            "examples": {"InvalidScope": {"value": {"error": "invalid_scope"}}},
                        }
                    },
                },
                "401": {
                    "description": "The client did not authenticate (RFC 6749 §5.2).",
                    "headers": _NO_STORE,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/TokenError401"},
                            "examples": {"InvalidClient": {"value": {"error": "invalid_client"}}},
                        }
                    },
                },
                "429": {
                    "description": "Too many token requests from this client id or address.",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse429"}},
                    },
                },
            },
        }
    }
    return result
