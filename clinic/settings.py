"""Aftercare settings: one module, read from the environment.

Secure by default: outside debug there is no default secret key, cookies are secure, HSTS is on
and an unset DATABASE_URL is an error. Every secret can also be given as `<NAME>_FILE` (a path
whose contents are the value), for container secrets.

Without DATABASE_URL / CELERY_BROKER_URL, and with AFTERCARE_EMBEDDED true (the default when
DJANGO_DEBUG is true, and in the test suite), an embedded PostgreSQL from the `pgserver` wheel and a
filesystem Celery broker under AFTERCARE_DATA_DIR are used, so that `make run` and `make test`
need nothing but Python.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.FileAwareEnv()

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def envbool(name: str, *, default: bool) -> bool:
    """A boolean setting that refuses anything but a clear yes or no (a typo is not `False`)."""
    raw = env.str(name, default="").strip().lower()
    if raw == "":
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of {sorted(_TRUE | _FALSE)}, not {raw!r}")


_RATE = re.compile(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)")


def envrate(name: str, *, default: str) -> str:
    """A request rate, `<count>/<period>` with the period s, m, h or d (`600/min`, `20/m`)."""
    raw = str(env.str(name, default=default)).strip()
    if not _RATE.fullmatch(raw):
        raise ImproperlyConfigured(f"{name} must be a rate like 600/min (a count, then s, m, h or d), not {raw!r}")
    return raw


DEBUG = envbool("DJANGO_DEBUG", default=False)
EMBEDDED = envbool("AFTERCARE_EMBEDDED", default=DEBUG)
DATA_DIR = Path(env.str("AFTERCARE_DATA_DIR", default=str(BASE_DIR / ".data")))

if DEBUG:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
    if not SECRET_KEY:
        from clinic import embedded

        # Random per data directory, never a constant anyone could read here and sign links with.
        SECRET_KEY = embedded.debug_secret_key(DATA_DIR)
else:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
    if len(SECRET_KEY) < 32:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE) must be set to at least 32 characters "
            "when DJANGO_DEBUG is not true."
        )

ALLOWED_HOSTS: list[str] = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG or EMBEDDED else []
)
CSRF_TRUSTED_ORIGINS: list[str] = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "drf_standardized_errors",
    "oauth2_provider",
    "pgtrigger",
    "pghistory",
    "axes",
    "django_guid",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "clinic.apps.ClinicConfig",
    "aftercare.apps.AftercareConfig",
    "tasks.apps.TasksConfig",
]

MIDDLEWARE = [
    # A request id for every request (the proxy's X-Request-ID when it is a UUID): in the response,
    # in every log line, and in the access log.
    "django_guid.middleware.guid_middleware",
    "django.middleware.security.SecurityMiddleware",
    # Before WhiteNoise and everything that may answer early, so every response carries a policy.
    "clinic.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Everything past the static files: no browser or proxy keeps a copy (patient data).
    "clinic.nocache.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # clinic.apistack.*: Django's and the libraries' own, except that an API call with a bearer
    # token (authenticated by it alone) goes straight past them: they only serve a browser.
    "clinic.apistack.AuthenticationMiddleware",
    # Staff must pass a second factor (TOTP, or a one-time recovery code) to be signed in at all.
    "clinic.apistack.OTPMiddleware",
    # Every change a request makes is grouped under one history context (the URL, the signed-in
    # user); API views add the caller, staff or integration client (`ClinicScopedViewSet`).
    "clinic.apistack.HistoryMiddleware",
    "clinic.apistack.SessionTimeoutMiddleware",
    "clinic.apistack.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it answers a locked-out sign-in with 429.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "clinic.urls"
WSGI_APPLICATION = "clinic.wsgi.application"
AUTH_USER_MODEL = "clinic.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                # The dashboard's header: who is signed in, for which clinic, what they may open.
                "aftercare.dashboard.pages.dashboard_context",
            ],
            # The dashboard's filters (`{% load dashboard %}`) live with the dashboard, outside an
            # app's own templatetags package.
            "libraries": {"dashboard": "aftercare.dashboard.templatetags.dashboard"},
        },
    },
]

# --- Database -------------------------------------------------------------------------------
if "DATABASE_URL" in env or "DATABASE_URL_FILE" in env:
    DATABASES: dict[str, dict[str, Any]] = {"default": env.db("DATABASE_URL")}
elif EMBEDDED:
    from clinic import embedded

    DATABASES = {"default": embedded.database_settings(DATA_DIR)}
else:
    raise ImproperlyConfigured(
        "DATABASE_URL must be set (or AFTERCARE_EMBEDDED=true for the embedded development database)."
    )
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# A streaming replica of the primary (optional): the dashboard's pages and the access-log exports
# read it, except where a request has written (clinic/replica.py says which reads, and why).
# Unset or empty, there is no `replica` database and no router: every query goes to the primary.
_replica_url = env.str("DATABASE_REPLICA_URL", default="").strip()
if _replica_url:
    DATABASES["replica"] = {
        **env.db_url_config(_replica_url),
        "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
        "CONN_HEALTH_CHECKS": True,
        # Tests have no replica database of their own: they read the primary's test database
        # through this alias (on the replica's server when it is a real one, which replicates it).
        "TEST": {"MIRROR": "default"},
    }
    # Read-only even when the URL names a server that would accept writes; a replica that does not
    # answer within seconds is passed over for the primary (clinic.replica).
    _replica_options = DATABASES["replica"].setdefault("OPTIONS", {})
    _replica_options.setdefault("connect_timeout", 3)
    _replica_options["options"] = f"{_replica_options.get('options', '')} -c default_transaction_read_only=on".strip()
    DATABASE_ROUTERS = ["clinic.replica.ReplicaRouter"]
    # Each request's scope, around the session and everything after it (a streaming export too).
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.contrib.sessions.middleware.SessionMiddleware"), "clinic.replica.ReplicaMiddleware"
    )

# --- Passwords, sessions and cookies ---------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# After sign-in, where no safe `next=` says otherwise (Django's default, /accounts/profile/, is no page here).
LOGIN_REDIRECT_URL = "admin:index"
# Staff sign in at the dashboard's page (the admin keeps its own for operators).
LOGIN_URL = "dashboard:sign_in"

# Staff sessions: a new one at every sign-in (Django), all of a user's others end when their
# password changes (Django's session hash), idle and absolute limits (clinic.auth.signin).
SESSION_COOKIE_AGE = env.int("AFTERCARE_SESSION_MAX_AGE_SECONDS", default=12 * 60 * 60)
# Whether each API request waits for its access event to reach the disk. Off (the default), a crash of
# the database server may lose the events of its last fraction of a second; on, every request pays
# a disk flush (clinic/services/access.py).
AFTERCARE_ACCESS_LOG_SYNCHRONOUS = env.bool("AFTERCARE_ACCESS_LOG_SYNCHRONOUS", default=False)
# The access log is kept by whole months (clinic/services/access_partitions.py): a month older than
# AFTERCARE_ACCESS_LOG_RETENTION_MONTHS (default 72, the six years HIPAA keeps documentation) is
# written to AFTERCARE_ACCESS_LOG_ARCHIVE_DIR as `clinic_accessevent_yYYYYmMM.csv.gz`, the archive read
# back and its rows counted, and only then dropped. The archive holds patient ids and addresses:
# keep the directory on storage with the same protection as the database and its backups.
AFTERCARE_ACCESS_LOG_RETENTION_MONTHS = env.int("AFTERCARE_ACCESS_LOG_RETENTION_MONTHS", default=72)
if AFTERCARE_ACCESS_LOG_RETENTION_MONTHS < 1:
    raise ImproperlyConfigured("AFTERCARE_ACCESS_LOG_RETENTION_MONTHS must be at least 1.")
AFTERCARE_ACCESS_LOG_ARCHIVE_DIR = Path(
    env.str("AFTERCARE_ACCESS_LOG_ARCHIVE_DIR", default=str(DATA_DIR / "access-log-archive"))
)
AFTERCARE_SESSION_IDLE_SECONDS = env.int("AFTERCARE_SESSION_IDLE_SECONDS", default=15 * 60)

# How authenticator apps name the account they add (django-otp's otpauth:// URL and QR code).
OTP_TOTP_ISSUER = "Aftercare"

# Lock-out (django-axes): after AFTERCARE_SIGNIN_FAILURE_LIMIT failures, per account and per
# client IP, for AFTERCARE_SIGNIN_LOCKOUT_MINUTES. Behind a reverse proxy, the client IP is the
# one that many hops back in X-Forwarded-For (the proxies in between are trusted to append it).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("AFTERCARE_SIGNIN_FAILURE_LIMIT", default=6)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.int("AFTERCARE_SIGNIN_LOCKOUT_MINUTES", default=30))
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
_TRUSTED_PROXIES = env.int("AFTERCARE_TRUSTED_PROXY_COUNT", default=0)
AXES_IPWARE_PROXY_COUNT = _TRUSTED_PROXIES or None
AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if _TRUSTED_PROXIES else ("REMOTE_ADDR",)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = envbool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_COOKIE_HTTPONLY = True

# --- Transport security ----------------------------------------------------------------------
SECURE_SSL_REDIRECT = envbool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers probe /health/ over plain HTTP inside the private network.
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = envbool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (clinic.csp). Pages (admin, API docs, unsubscribe) load only this site's
# files: no inline script or style (the docs' init script is a file of its own), `data:` images
# for the docs' icons. Anything that is not HTML (the API's JSON, health) is no page: it loads nothing.
AFTERCARE_CSP_HTML = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
AFTERCARE_CSP_OTHER = "default-src 'none'; frame-ancestors 'none'"
if envbool("DJANGO_BEHIND_TLS_PROXY", default=False):
    # Only behind a proxy that always sets (and strips client-sent) X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Internationalisation --------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ----------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(DATA_DIR / "static")))
# Embedded (development and tests): serve app static files straight from their packages.
WHITENOISE_USE_FINDERS = DEBUG or EMBEDDED
if WHITENOISE_USE_FINDERS:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or EMBEDDED
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Cache (API rate limits) ------------------------------------------------------------------
# Shared by every web process, or each would count its own share of a caller's requests.
# Production: CACHE_URL=redis://… (Django's own RedisCache, on the `redis` package celery[redis]
# installs), one round trip a request (clinic.api.throttling). Unset, only for the embedded
# development stack (`make run`, `make test`): files under the data directory, which every local
# process shares without Redis. Outside it an unset CACHE_URL is an error: files would cost every
# API request an open, a lock, a pickle and a write on the web server's disk (and are not shared
# between web servers), a per-process memory cache would let a caller through at the rate times
# the number of processes, and a database cache would add queries to every request.
if "CACHE_URL" in env or "CACHE_URL_FILE" in env:
    _cache_url = env.str("CACHE_URL")
    _redis = _cache_url.split(":", 1)[0] in {"redis", "rediss", "valkey", "valkeys"}
    # Django's RedisCache by name: django-environ would pick django-redis if it were installed.
    _cache = env.cache_url("CACHE_URL", backend="django.core.cache.backends.redis.RedisCache" if _redis else None)
    if _redis:
        # Fail fast when Redis is away; the rate limits then let requests through (clinic.api.throttling).
        _cache.setdefault("OPTIONS", {}).setdefault("socket_connect_timeout", 1)
        _cache["OPTIONS"].setdefault("socket_timeout", 1)
elif EMBEDDED:
    _cache = {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(DATA_DIR / "cache"),
        "OPTIONS": {"MAX_ENTRIES": 10_000},
    }
else:
    raise ImproperlyConfigured(
        "CACHE_URL must be set (redis://… shared by every web process, for the API's rate limits), "
        "or AFTERCARE_EMBEDDED=true for the embedded development stack."
    )
CACHES: dict[str, dict[str, Any]] = {"default": _cache}

# --- Email -----------------------------------------------------------------------------------
# The sender patients see: a deployment sets a neutral address of the clinic's own domain.
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="reminders@clinic.invalid")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
if "ANYMAIL_PROVIDER" in env:
    # An email provider's HTTP API through django-anymail: ANYMAIL_PROVIDER=postmark (or
    # amazon_ses, sendgrid, mailgun, …) and its settings as ANYMAIL_<NAME>, for example
    # ANYMAIL_POSTMARK_SERVER_TOKEN (or ANYMAIL_POSTMARK_SERVER_TOKEN_FILE).
    EMAIL_BACKEND = f"anymail.backends.{env.str('ANYMAIL_PROVIDER')}.EmailBackend"
    ANYMAIL = {
        name.removeprefix("ANYMAIL_").removesuffix("_FILE"): env.str(name.removesuffix("_FILE"))
        for name in env.ENVIRON
        if name.startswith("ANYMAIL_") and not name.startswith("ANYMAIL_PROVIDER")
    }
elif "EMAIL_URL" in env or "EMAIL_URL_FILE" in env:
    _email = env.email_url("EMAIL_URL")
    EMAIL_BACKEND = _email["EMAIL_BACKEND"]
    EMAIL_HOST = _email.get("EMAIL_HOST", "")
    EMAIL_PORT = _email.get("EMAIL_PORT") or 25
    EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS"))
    EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL"))
elif EMBEDDED:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = DATA_DIR / "mail"
else:
    raise ImproperlyConfigured(
        "Set EMAIL_URL (e.g. smtp+tls://user:password@smtp.example.org:587) or ANYMAIL_PROVIDER."
    )

# --- Celery (read by tasks/celery.py through the CELERY_ namespace) -------------------------
if "CELERY_BROKER_URL" in env or "CELERY_BROKER_URL_FILE" in env:
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL")
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {}
    if CELERY_BROKER_URL.startswith("filesystem"):
        from clinic import embedded

        # Every process must use the same folders, or publishers and workers never meet.
        _, CELERY_BROKER_TRANSPORT_OPTIONS = embedded.filesystem_broker(DATA_DIR)
elif EMBEDDED:
    from clinic import embedded

    CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = embedded.filesystem_broker(DATA_DIR)
else:
    raise ImproperlyConfigured("CELERY_BROKER_URL must be set (amqp://… for RabbitMQ, redis://… for Redis).")
if CELERY_BROKER_URL.startswith(("amqp", "pyamqp")):
    # Broker acknowledgements: a published task is on disk before the publisher moves on.
    CELERY_BROKER_TRANSPORT_OPTIONS.setdefault("confirm_publish", True)
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_DEFAULT_QUEUE_TYPE = env.str("CELERY_TASK_DEFAULT_QUEUE_TYPE", default="classic")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
if CELERY_BROKER_URL.startswith("filesystem"):
    # The filesystem transport has no fan-out exchange for remote control.
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False

# --- REST API --------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Bearer first: an unauthenticated call gets 401 with `WWW-Authenticate: Bearer`.
        "clinic.auth.authentication.BearerAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["clinic.auth.permissions.HasScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["clinic.api.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "clinic.api.pagination.CursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["clinic.api.filters.FilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "clinic.api.schema.AutoSchema",
    # Per caller: an integration client or a staff member, each with a rate of their own.
    "DEFAULT_THROTTLE_CLASSES": [
        "clinic.api.throttling.IntegrationClientThrottle",
        "clinic.api.throttling.StaffThrottle",
    ],
    "EXCEPTION_HANDLER": "drf_standardized_errors.handler.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
DRF_STANDARDIZED_ERRORS = {
    "EXCEPTION_HANDLER_CLASS": "clinic.api.errors.ExceptionHandler",
    "ENABLE_IN_DEBUG_FOR_UNHANDLED_EXCEPTIONS": True,
    "ALLOWED_ERROR_STATUS_CODES": ["400", "401", "403", "404", "405", "406", "409", "412", "413", "415", "422", "429"],
    "ERROR_SCHEMAS": {
        "401": "clinic.api.errors.Error401ResponseSerializer",
        "409": "clinic.api.errors.Error409ResponseSerializer",
        "412": "clinic.api.errors.Error412ResponseSerializer",
        "413": "clinic.api.errors.Error413ResponseSerializer",
        "422": "clinic.api.errors.Error422ResponseSerializer",
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Aftercare API",
    "DESCRIPTION": (
        "REST API for clinic systems (EHRs, scheduling) and the clinician dashboard.\n\n"
        "* Authentication: OAuth2 client credentials (`POST /o/token/`) for integration clients, "
        "each bound to one clinic; session cookies for staff.\n"
        "* Every object belongs to a clinic. Objects of another clinic answer 404, never 403.\n"
        "* Lists use cursor pagination (`cursor`, `page_size`) and filter by `updated_since`.\n"
        "* POST requests accept an `Idempotency-Key` header: replaying the same key and body returns "
        "the first response (with `Idempotent-Replayed: true`); the same key with another body is 422. "
        "Keys are kept for 24 hours.\n"
        "* Every 4xx has one shape: `{type, errors: [{code, detail, attr}]}`, where `attr` names the "
        "bad field (dotted for nested fields, e.g. `emergency_plan.phone`).\n"
        "* Request bodies are strict. A field the operation does not take is a 400 `unknown_field` "
        "naming it (nested ones too, e.g. `support_persons.0.xyz`); the resource's read-only fields "
        "(`id`, `created_at`, `updated_at`, …) are the exception: sent back as read, they are ignored, "
        "so read-modify-write works. Text refuses control characters (`control_characters`; one-line "
        "fields refuse line breaks too). Every date-time, in bodies and query parameters, is RFC 3339 "
        "with an offset: without one it is a 400 `no_offset`, never read in a zone the caller did not "
        "choose. A `date` is a day of the clinic's calendar, in the clinic's time zone. Dates and "
        "date-times outside what a clinic could mean (a birth in the future, an appointment decades "
        "away) are `out_of_range`.\n"
        "* Rate limits per caller (per integration client, per staff member; `/o/token/` per client id "
        "and per client IP): over the limit the answer is 429 with `Retry-After` in seconds."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ValidationErrorEnum": "drf_standardized_errors.openapi_serializers.ValidationErrorEnum.choices",
        "ClientErrorEnum": "drf_standardized_errors.openapi_serializers.ClientErrorEnum.choices",
        "ServerErrorEnum": "drf_standardized_errors.openapi_serializers.ServerErrorEnum.choices",
        "ErrorCode401Enum": "clinic.api.errors.ERROR_401_CODES",
        "ErrorCode403Enum": "drf_standardized_errors.openapi_serializers.ErrorCode403Enum.choices",
        "ErrorCode404Enum": "drf_standardized_errors.openapi_serializers.ErrorCode404Enum.choices",
        "ErrorCode405Enum": "drf_standardized_errors.openapi_serializers.ErrorCode405Enum.choices",
        "ErrorCode406Enum": "drf_standardized_errors.openapi_serializers.ErrorCode406Enum.choices",
        "ErrorCode415Enum": "drf_standardized_errors.openapi_serializers.ErrorCode415Enum.choices",
        "ErrorCode429Enum": "drf_standardized_errors.openapi_serializers.ErrorCode429Enum.choices",
        "ErrorCode500Enum": "drf_standardized_errors.openapi_serializers.ErrorCode500Enum.choices",
        "PatientStatusEnum": "clinic.models.PatientStatus.choices",
        "RiskRuleEnum": "aftercare.models.flags.RiskRule.choices",
        "SeverityEnum": "aftercare.models.flags.Severity.choices",
        "FlagStatusEnum": "aftercare.models.flags.FlagStatus.choices",
        "LanguageEnum": "clinic.models.Language.choices",
        "PlanStatusEnum": "aftercare.models.choices.PlanStatus.choices",
        "PlanCreationStatusEnum": "aftercare.models.choices.PLAN_CREATION_STATUSES",
        "ActivityKindEnum": "aftercare.models.choices.ActivityKind.choices",
        "AttendanceStatusEnum": "aftercare.models.choices.AttendanceStatus.choices",
        "GroupAttendanceStatusEnum": "aftercare.models.choices.GroupAttendanceStatus.choices",
        "SupportGroupKindEnum": "aftercare.models.choices.SupportGroupKind.choices",
        "OutsideMeetingKindEnum": "aftercare.models.choices.OutsideMeetingKind.choices",
        "DisclosureCategoryEnum": "clinic.models.consents.DisclosureCategory.choices",
        "ConsentCategoryEnum": "clinic.models.consents.CONSENT_CATEGORY_CHOICES",
        "ConsentStateEnum": "clinic.models.consents.CONSENT_STATES",
        "RecipientKindEnum": "clinic.models.consents.RecipientKind.choices",
    },
    # Replaces drf-spectacular's own enum hook (it also names the error enums).
    "POSTPROCESSING_HOOKS": [
        "drf_standardized_errors.openapi_hooks.postprocess_schema_enums",
        "clinic.api.schema.index_placeholders_to_patterns",
        "clinic.api.schema.open_error_unions",
        "clinic.api.schema.request_bodies_are_closed",
        "clinic.api.schema.document_token_endpoint",
        "clinic.api.schema.document_retry_after",
    ],
}
# Request and response examples of every operation, by operationId (clinic.api.schema).
AFTERCARE_SCHEMA_EXAMPLES = ["clinic.api.examples.EXAMPLES", "aftercare.api.examples.EXAMPLES"]

# --- Integration clients (OAuth2 client credentials) -----------------------------------------
OAUTH2_PROVIDER = {
    "SCOPES_BACKEND_CLASS": "clinic.auth.scopes.ClientScopes",
    # A deactivated client (or a client of a deactivated clinic) is `invalid_client`.
    "OAUTH2_VALIDATOR_CLASS": "clinic.auth.validator.ClientValidator",
    "ACCESS_TOKEN_EXPIRE_SECONDS": env.int("AFTERCARE_ACCESS_TOKEN_SECONDS", default=3600),
    "ERROR_RESPONSE_WITH_SCOPES": True,
    # Client credentials are the only grant: no authorization codes or refresh tokens to leak.
    "REFRESH_TOKEN_EXPIRE_SECONDS": 0,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
    "PKCE_REQUIRED": True,
    # RFC 9700 (OAuth 2.0 security best current practice), all of it. Among others: tokens are
    # stored hashed, so a copy of the database holds no usable bearer token, and a token is
    # accepted only in the Authorization header, never in a URL that could end up in a log.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
}

# Named here too (not only inside OAUTH2_PROVIDER) so migrations can resolve the swappable model.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"

# --- Rate limits (clinic.api.throttling), counted in CACHES ----------------------------------
# An EHR's bulk sync (pages of 200, or one upsert per patient) fits well inside the client rate.
AFTERCARE_THROTTLE_CLIENT_RATE = envrate("AFTERCARE_THROTTLE_CLIENT_RATE", default="3000/min")
AFTERCARE_THROTTLE_STAFF_RATE = envrate("AFTERCARE_THROTTLE_STAFF_RATE", default="600/min")
# /o/token/ and /o/revoke_token/, per client id and per client IP: each attempt hashes a secret.
AFTERCARE_THROTTLE_TOKEN_RATE = envrate("AFTERCARE_THROTTLE_TOKEN_RATE", default="20/min")

# --- Aftercare -------------------------------------------------------------------------------
AFTERCARE_IDEMPOTENCY_TTL_HOURS = env.int("AFTERCARE_IDEMPOTENCY_TTL_HOURS", default=24)
# Where the links in emails (a patient's unsubscribe link, staff's links) point: the public https
# address of this deployment, never a request's Host header. Outside debug there is no default: a
# reminder must not go out with a link to a host patients cannot reach, or that is not the clinic's.
if DEBUG:
    AFTERCARE_PUBLIC_URL = env.str("AFTERCARE_PUBLIC_URL", default="http://127.0.0.1:8000").rstrip("/")
else:
    AFTERCARE_PUBLIC_URL = env.str("AFTERCARE_PUBLIC_URL", default="").rstrip("/")
    if not re.fullmatch(r"https://[^/?#@\s]+(/[^?#\s]*)?", AFTERCARE_PUBLIC_URL):
        raise ImproperlyConfigured(
            "AFTERCARE_PUBLIC_URL must be set to the https:// address patients' links point to "
            f"(e.g. https://reminders.example.org) when DJANGO_DEBUG is not true, not {AFTERCARE_PUBLIC_URL!r}."
        )
# How long the link that invites a new staff member works (it also dies once they set a password).
AFTERCARE_INVITE_HOURS = env.int("AFTERCARE_INVITE_HOURS", default=72)
AFTERCARE_HEALTH_BROKER_TIMEOUT = env.float("AFTERCARE_HEALTH_BROKER_TIMEOUT", default=2.0)
# Check-ins: how long the link in a check-in email works, and the local hour (clinic time, outside
# its quiet hours) a check-in goes out on the day it falls due.
AFTERCARE_CHECKIN_LINK_HOURS = env.int("AFTERCARE_CHECKIN_LINK_HOURS", default=72)
AFTERCARE_CHECKIN_SEND_HOUR = env.int("AFTERCARE_CHECKIN_SEND_HOUR", default=10)
if AFTERCARE_CHECKIN_LINK_HOURS < 1:
    raise ImproperlyConfigured("AFTERCARE_CHECKIN_LINK_HOURS must be at least 1.")
if not 0 <= AFTERCARE_CHECKIN_SEND_HOUR <= 23:
    raise ImproperlyConfigured("AFTERCARE_CHECKIN_SEND_HOUR must be an hour from 0 to 23.")
# How long a reminder worker holds the rows it claimed (renewed as it works through them) and a
# message it handed to the email backend. After a worker's death, its unsent rows go out again
# once this has run out; a message it was sending by then is marked in doubt.
AFTERCARE_REMINDER_LEASE_SECONDS = env.int("AFTERCARE_REMINDER_LEASE_SECONDS", default=60)
# How many reminder messages a worker process has in flight at once, each on an SMTP connection
# (or a provider's HTTP session) of its own: a provider taking 50 ms a message allows 20 a second
# per connection. A worker's death leaves up to this many messages in doubt, never resent. 24:
# senders are refilled once half are free, so 12 to 24 are in flight, and at 50 ms a message two
# processes sent 331 a second on the bench (16 sent 271).
AFTERCARE_REMINDER_SEND_CONCURRENCY = env.int("AFTERCARE_REMINDER_SEND_CONCURRENCY", default=24)
# How long one reminder pass takes new batches before it hands the rest to a fresh pass: well
# inside the task's soft time limit, which would otherwise stop it mid-send.
AFTERCARE_REMINDER_PASS_SECONDS = env.int(
    "AFTERCARE_REMINDER_PASS_SECONDS", default=max(1, CELERY_TASK_SOFT_TIME_LIMIT // 2)
)
if AFTERCARE_REMINDER_SEND_CONCURRENCY < 1:
    raise ImproperlyConfigured("AFTERCARE_REMINDER_SEND_CONCURRENCY must be 1 or more.")
if not 0 < AFTERCARE_REMINDER_PASS_SECONDS < CELERY_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured(
        "AFTERCARE_REMINDER_PASS_SECONDS must be more than 0 and less than CELERY_TASK_SOFT_TIME_LIMIT "
        f"({CELERY_TASK_SOFT_TIME_LIMIT})."
    )
# How long the staff member who recorded an attendance mark may take it back (a mis-click)
# without giving a correction reason.
AFTERCARE_ATTENDANCE_UNDO_SECONDS = env.int("AFTERCARE_ATTENDANCE_UNDO_SECONDS", default=300)

# --- Logging: one line per event, never a request body (request bodies carry PHI) -----------
DJANGO_GUID = {"GUID_HEADER_NAME": "X-Request-ID", "VALIDATE_GUID": True, "UUID_FORMAT": "string"}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s [%(correlation_id)s] %(name)s %(message)s"}},
    "filters": {
        "drop_request_details": {"()": "clinic.privacy.DropRequestDetails"},
        "request_id": {"()": "django_guid.log_filters.CorrelationId"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["drop_request_details", "request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("AFTERCARE_LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's default configuration gives these handlers of its own (runserver's request lines,
        # the console in debug) that would write the raw path: none here, so they reach the root's.
        # INFO as Django has it: django.template's DEBUG lines print whole contexts, request included.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        "pgserver": {"level": "WARNING"},
        "django_guid": {"level": "WARNING"},  # one line per request saying it made an id: noise
        # HTTP clients (an email provider's API through anymail and requests, httpx) log each
        # request's whole URL at INFO or DEBUG, query string included: an MRN searched for, a token.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}
