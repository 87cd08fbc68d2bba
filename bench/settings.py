"""Settings for `make bench`: the product's settings plus a trivial endpoint to measure against."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-not-for-any-deployment-0123456789")
os.environ.setdefault("AFTERCARE_EMBEDDED", "true")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("AFTERCARE_PUBLIC_URL", "https://bench.invalid")
# Rate limits are counted on every request, as in production, but never reached.
os.environ.setdefault("AFTERCARE_THROTTLE_CLIENT_RATE", "100000000/day")
os.environ.setdefault("AFTERCARE_THROTTLE_STAFF_RATE", "100000000/day")

from clinic.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
LOGGING = {**LOGGING, "root": {"handlers": ["console"], "level": "WARNING"}}  # noqa: F405
