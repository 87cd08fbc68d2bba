"""Staff sign-in: how long a session lives, and a log line for every sign-in and failure.

Lock-out after repeated failures is django-axes (settings `AXES_*`): per account and per client
IP, the real one behind as many proxies as `AFTERCARE_TRUSTED_PROXY_COUNT` says.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from clinic.auth.caller import client_ip

logger = logging.getLogger("clinic.signin")

SIGNED_IN_AT = "aftercare_signed_in_at"
LAST_SEEN = "aftercare_last_seen"
# last_seen is written at most this often: not a session save on every request.
_TOUCH_EVERY = 60


def _ip(request: HttpRequest | None) -> str:
    return (client_ip(request) if request is not None else None) or "?"


class SessionTimeoutMiddleware:
    """A staff session ends after `AFTERCARE_SESSION_IDLE_SECONDS` without a request (default 15
    minutes) and `AFTERCARE_SESSION_MAX_AGE_SECONDS` after sign-in whatever happens (12 hours)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            session = request.session
            now = time.time()
            signed_in_at = session.get(SIGNED_IN_AT, now)
            last_seen = session.get(LAST_SEEN, signed_in_at)
            idle = now - last_seen > settings.AFTERCARE_SESSION_IDLE_SECONDS
            if idle or now - signed_in_at > settings.SESSION_COOKIE_AGE:
                logger.info("session of user %s ended: %s", user.pk, "idle" if idle else "too old")
                logout(request)
            elif now - last_seen > _TOUCH_EVERY or SIGNED_IN_AT not in session:
                session[SIGNED_IN_AT] = signed_in_at
                session[LAST_SEEN] = now
        return self.get_response(request)


@receiver(user_logged_in)
def _signed_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        now = time.time()
        request.session[SIGNED_IN_AT] = now
        request.session[LAST_SEEN] = now
    logger.info("sign-in: user %s from %s", user.pk, _ip(request))


@receiver(user_logged_out)
def _signed_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    logger.info("sign-out: user %s", getattr(user, "pk", None))


@receiver(user_login_failed)
def _sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # `credentials` is already cleansed by Django (the password masked); only the username is used.
    logger.warning("sign-in failed for username %r from %s", credentials.get("username"), _ip(request))
