"""`Cache-Control: no-store` on every answer this application makes (static files excepted).

API answers and admin pages carry patient data, and error pages and the API's docs may too (an
id, a field's value in a message). None may stay in a browser's cache on a shared computer, or in
a proxy's. Only WhiteNoise's static files, answered before this middleware, are cacheable.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers


class NoStoreMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # Django's never_cache: no-store, no-cache, must-revalidate, private, max-age=0, and Expires.
        add_never_cache_headers(response)
        return response
