"""The middleware only a browser needs, passed by a bearer-token API call.

A request to `/api/` that carries `Authorization: Bearer …` is authenticated by its token alone
(clinic.auth.authentication: a bearer token that fails is a 401, never a fall back to the
session). Django's authentication, the second factor, the session timeout and messages have
nothing to do for it. They cost such a call a few per cent of a list page's time and a twentieth
of a small answer's, and three queries when a session cookie comes along (the session, its user,
their authenticator). Each is named in `MIDDLEWARE` through a subclass here that hands a
bearer-token API call straight on and is itself for every other request, the dashboard's own
calls to the API among them. Subclasses rather than a stack of their own: the order stays the one
`MIDDLEWARE` reads, and the admin's checks, which look for these middleware, still find them.

Django's session and CSRF middleware stay as they are: with nothing after them reading the
session, a bearer call costs them a cookie lookup (no query, no `Vary: Cookie`), DRF's views are
exempt from the CSRF check, and the deploy checks want them by their own names. So do django-axes'
(it only looks at the response for a lock-out its sign-in signals marked) and what every response
needs (the request id, the security headers, the content security policy, no-store, the host
check, X-Frame-Options).

pghistory's history context is passed only by a bearer call's reads, which write no history:
its writes are grouped under a context as a browser's are (clinic.api.views adds the caller).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.middleware import AuthenticationMiddleware as _Authentication
from django.contrib.messages.middleware import MessageMiddleware as _Messages
from django.http import HttpRequest
from django_otp.middleware import OTPMiddleware as _OTP
from pghistory.middleware import HistoryMiddleware as _History

from clinic.auth.authentication import bearer_token
from clinic.auth.signin import SessionTimeoutMiddleware as _SessionTimeout

API_PREFIX = "/api/"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_FLAG = "_aftercare_bearer_api_call"


def is_bearer_api_call(request: HttpRequest) -> bool:
    """A call to the API that carries a bearer token (which alone then authenticates it)."""
    known = request.__dict__.get(_FLAG)
    if known is None:
        known = request.path_info.startswith(API_PREFIX) and bearer_token(request) is not None
        request.__dict__[_FLAG] = known
    return bool(known)


class _BrowserOnly:
    """Hands a bearer-token API call on to the next middleware; anything else goes through."""

    # Django adapts the chain around a synchronous middleware when it runs under ASGI.
    sync_capable = True
    async_capable = False
    get_response: Any

    def passes(self, request: HttpRequest) -> bool:
        return is_bearer_api_call(request)

    def __call__(self, request: HttpRequest) -> Any:
        if self.passes(request):
            return self.get_response(request)
        return super().__call__(request)  # type: ignore[misc]


class AuthenticationMiddleware(_BrowserOnly, _Authentication):
    pass


class OTPMiddleware(_BrowserOnly, _OTP):
    pass


class HistoryMiddleware(_BrowserOnly, _History):
    def passes(self, request: HttpRequest) -> bool:
        return request.method in _SAFE and is_bearer_api_call(request)


class SessionTimeoutMiddleware(_BrowserOnly, _SessionTimeout):
    pass


class MessageMiddleware(_BrowserOnly, _Messages):
    pass
