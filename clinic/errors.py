"""Errors the services raise, which every entry point (API, dashboard, tasks) translates."""

from __future__ import annotations

from django.core.exceptions import ValidationError


class Conflict(ValidationError):
    """The request is well formed, but the record's current state does not allow it: a flag that is
    already acknowledged, a second active plan, a change to an appointment whose outcome is recorded.

    A `ValidationError` naming the field whose state is in the way, so forms show it like any other
    refusal; the API answers it with 409 (`conflict`) instead of 400, because resending the same
    request cannot succeed until the record changes, while a client can fix a 400 by fixing its body.
    """
