#!/usr/bin/env python
"""Django's command-line utility for Aftercare."""

import os
import sys

# Commands that read the models and the migration files and nothing else: they need no secret,
# database, broker, mail server or public address, so a bare checkout can run them
# (`makemigrations --check` in review and CI). Outside debug the settings otherwise insist on all
# five, on purpose.
OFFLINE_COMMANDS = {"makemigrations"}
OFFLINE_ENVIRONMENT = {
    "DJANGO_SECRET_KEY": "offline-command-only-secret-key-0123456789abcdef",
    "DATABASE_URL": "postgres://offline@127.0.0.1:1/offline",
    "CELERY_BROKER_URL": "memory://",
    "EMAIL_URL": "consolemail://",
    "CACHE_URL": "locmemcache://",
    "AFTERCARE_PUBLIC_URL": "https://offline.invalid",
}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    configured = "DJANGO_SECRET_KEY" in os.environ or "DJANGO_SECRET_KEY_FILE" in os.environ
    if len(sys.argv) > 1 and sys.argv[1] in OFFLINE_COMMANDS and not configured:
        for name, value in OFFLINE_ENVIRONMENT.items():
            os.environ.setdefault(name, value)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
