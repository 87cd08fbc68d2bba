"""A service's refusal as a management command's error, naming the option to fix."""

from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.management.base import CommandError


def validation_error_to_command_error(exc: ValidationError, options: frozenset[str] = frozenset()) -> CommandError:
    """One line per field; a field the command takes as an option is named as that option
    (`external_id` → `--external-id`), so the operator knows what to change."""
    if not hasattr(exc, "error_dict"):
        return CommandError("; ".join(exc.messages))
    lines = []
    for field, messages in exc.message_dict.items():
        text = " ".join(messages)
        if field == NON_FIELD_ERRORS:
            lines.append(text)
        else:
            lines.append(f"{'--' + field.replace('_', '-') if field in options else field}: {text}")
    return CommandError("; ".join(lines))
