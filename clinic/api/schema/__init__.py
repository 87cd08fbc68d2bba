"""OpenAPI generation (drf-spectacular): the schema class and its extensions (`autoschema`), the
postprocessing hooks (`hooks`) and the OAuth2 token endpoint's documentation (`token`). Settings
name them here."""

from clinic.api.schema.autoschema import IDEMPOTENCY_HEADER, AutoSchema, ScopedOAuth2Scheme, registered_examples
from clinic.api.schema.hooks import (
    document_retry_after,
    index_placeholders_to_patterns,
    open_error_unions,
    request_bodies_are_closed,
)
from clinic.api.schema.token import document_token_endpoint

__all__ = [
    "IDEMPOTENCY_HEADER",
    "AutoSchema",
    "ScopedOAuth2Scheme",
    "document_retry_after",
    "document_token_endpoint",
    "index_placeholders_to_patterns",
    "open_error_unions",
    "registered_examples",
    "request_bodies_are_closed",
]
