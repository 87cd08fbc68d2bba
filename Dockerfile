# syntax=docker/dockerfile:1

# Aftercare production image: gunicorn by default; the same image runs the Celery worker and beat
# (`celery -A tasks worker|beat`) and migrations (`python manage.py migrate --noinput`).
# Configuration is environment variables only (see clinic/settings.py); nothing secret is baked in.

# --- builder: the virtualenv, runtime dependencies only ------------------------------------------
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src

# Dependencies first, from pyproject alone, so that a code change does not reinstall them.
# Only [project].dependencies: the `embedded` and `dev` extras never go into the image.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --requirement /tmp/requirements.txt

COPY README.md ./
COPY clinic ./clinic
COPY aftercare ./aftercare
COPY tasks ./tasks
RUN pip install --no-deps . \
    && pip check

# --- runtime -------------------------------------------------------------------------------------
FROM python:3.11-slim AS runtime

# PYTHONPATH puts /app ahead of the installed copy, so manage.py, gunicorn and celery all import
# the same code; DJANGO_STATIC_ROOT keeps collectstatic (build) and whitenoise (run) on one path.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    DJANGO_STATIC_ROOT=/app/staticfiles

RUN groupadd --system --gid 10001 aftercare \
    && useradd --system --no-log-init --uid 10001 --gid aftercare --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin aftercare

WORKDIR /app

COPY --from=builder /opt/venv /opt/venv
COPY manage.py ./
COPY clinic ./clinic
COPY aftercare ./aftercare
COPY tasks ./tasks

# The settings refuse to import without a secret key, a database, a broker, a mail URL, a cache and
# the public address; these placeholders exist only for this step (nothing connects during
# collectstatic) and are not kept in the image's environment. The code stays root-owned: the running process cannot rewrite it,
# so its bytecode is compiled here.
RUN DJANGO_SECRET_KEY=collectstatic-build-step-only-not-a-secret-0123456789 \
    DATABASE_URL=postgres://build@127.0.0.1:1/build \
    CELERY_BROKER_URL=memory:// \
    EMAIL_URL=consolemail:// \
    AFTERCARE_PUBLIC_URL=https://build.invalid \
    CACHE_URL=locmemcache:// \
    python manage.py collectstatic --noinput \
    && python -m compileall -q clinic aftercare tasks

USER 10001:10001

EXPOSE 8000

# /health/ checks the database and the broker. Django answers only for DJANGO_ALLOWED_HOSTS, so
# the probe presents the first of them (a leading "." or "*" wildcard stripped) as its Host.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; h = os.environ.get('DJANGO_ALLOWED_HOSTS', '').split(',')[0].strip().lstrip('*.') or 'localhost'; u.urlopen(u.Request('http://127.0.0.1:8000/health/', headers={'Host': h}), timeout=5)"]

# A shell only to read GUNICORN_WORKERS; `exec` leaves gunicorn as PID 1 to receive SIGTERM.
# The heartbeat files go to /dev/shm: /tmp may be a slow overlay or read-only. The configuration
# module writes the access log to stdout with paths redacted and no query strings (they carry
# names, record numbers and unsubscribe tokens).
CMD ["sh", "-c", "exec gunicorn --config python:clinic.gunicorn_conf clinic.wsgi:application --bind 0.0.0.0:8000 --workers \"${GUNICORN_WORKERS:-3}\" --worker-tmp-dir /dev/shm"]
