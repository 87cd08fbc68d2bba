"""What every response of the check-in links carries: their paths hold a token."""

from __future__ import annotations

from django.http import HttpResponse


def private(response: HttpResponse) -> HttpResponse:
    # The URL holds the token: no Referer may carry it elsewhere, and no search engine may keep it.
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def unlogged(response: HttpResponse) -> HttpResponse:
    """For a 4xx: Django logs every one with the request path, and here the path is the token.
    The flag is Django's own "already logged" marker, so it skips that line."""
    response._has_been_logged = True  # type: ignore[attr-defined]
    return private(response)
