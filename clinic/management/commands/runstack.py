"""`make run`: migrate, load the demo clinic, then web + Celery worker + beat in the foreground.

Without DATABASE_URL this process holds the embedded PostgreSQL for the others; Ctrl-C stops the
three children, then the database.
"""

from __future__ import annotations

import os
import shlex
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection


class Command(BaseCommand):
    help = "Run the whole product in the foreground: web, Celery worker and beat."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000", help="Where the web server listens")
        parser.add_argument("--no-seed", action="store_true", help="Do not load the demo clinic")

    def handle(self, *args: Any, **options: Any) -> None:
        from honcho.manager import Manager
        from honcho.printer import Printer

        call_command("migrate", interactive=False, verbosity=1)
        if not options["no_seed"]:
            call_command("seed_demo")

        env = os.environ.copy()
        if "DATABASE_URL" not in env and "DATABASE_URL_FILE" not in env:
            from clinic import embedded

            env["DATABASE_URL"] = embedded.database_url(connection.settings_dict)
            self.stdout.write(f"Embedded PostgreSQL: {env['DATABASE_URL']}")
        if str(settings.CELERY_BROKER_URL).startswith("filesystem"):
            self.stdout.write(f"Filesystem Celery broker under {settings.DATA_DIR / 'broker'}")
        connection.close()

        python = shlex.quote(sys.executable)
        addr = shlex.quote(options["addr"])
        manager = Manager(Printer(sys.stdout))
        manager.add_process("web", f"{python} manage.py runserver {addr}", env=env)
        manager.add_process("worker", f"{python} -m celery -A tasks worker --loglevel INFO --concurrency 2", env=env)
        manager.add_process("beat", f"{python} -m celery -A tasks beat --loglevel INFO", env=env)
        self.stdout.write(f"Serving http://{options['addr']}/ (API docs at /api/docs/). Ctrl-C stops everything.")
        manager.loop()
        sys.exit(manager.returncode)
