"""Content-Security-Policy on every response: `AFTERCARE_CSP_HTML` on pages, `AFTERCARE_CSP_OTHER`
(nothing may load) on everything else.

Our own middleware rather than django-csp: the two policies are fixed and chosen by the response's
type, and no page needs a nonce (none has an inline script or style), so django-csp's nonces,
per-view decorators and report-only pair would go unused. Django 6.0's built-in CSP (`SECURE_CSP`)
can replace it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        is_page = response.get("Content-Type", "").startswith("text/html")
        response[HEADER] = settings.AFTERCARE_CSP_HTML if is_page else settings.AFTERCARE_CSP_OTHER
        return response
