"""Settings for `make bench`: the product's settings plus a trivial endpoint to measure against.

Rate limits are counted on every request, as in production, but never reached: in Redis, as in
production (`BENCH_CACHE_URL`, default redis://127.0.0.1:6379/0), when it answers; without Redis
the API is measured without rate limits (`THROTTLED` is False, and the bench says so) rather than
with the file cache `make run` uses, which no deployment does.
"""

import os
import socket
from urllib.parse import urlsplit

os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-not-for-any-deployment-0123456789")
os.environ.setdefault("AFTERCARE_EMBEDDED", "true")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("AFTERCARE_PUBLIC_URL", "https://bench.invalid")
os.environ.setdefault("AFTERCARE_THROTTLE_CLIENT_RATE", "100000000/day")
os.environ.setdefault("AFTERCARE_THROTTLE_STAFF_RATE", "100000000/day")


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=0.5):
            return True
    except OSError:
        return False


if "CACHE_URL" not in os.environ:
    _bench_cache = os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/0")
    if _reachable(_bench_cache):
        os.environ["CACHE_URL"] = _bench_cache

from clinic.settings import *  # noqa: E402, F403

THROTTLED = "CACHE_URL" in os.environ
if not THROTTLED:
    REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}  # noqa: F405

ROOT_URLCONF = "bench.urls"
LOGGING = {**LOGGING, "root": {"handlers": ["console"], "level": "WARNING"}}  # noqa: F405
