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


def served_url(addr: str) -> str:
    """The address `runserver <addr>` answers at, as a browser on this machine reaches it (a
    wildcard bind is reached through the loopback address)."""
    host, _, port = addr.rpartition(":")
    if not host or host in ("0", "0.0.0.0"):  # noqa: S104 (reading the bind address, not binding)
        host = "127.0.0.1"
    elif host in ("::", "[::]"):
        host = "[::1]"
    return f"http://{host}:{port}"


def child_environment(addr: str, environ: dict[str, str], *, debug: bool) -> dict[str, str]:
    """The environment of the web server, worker and beat. In debug, with no
    AFTERCARE_PUBLIC_URL of its own, the links in emails point at the address served here (and
    not at a port nothing listens on)."""
    env = dict(environ)
    if debug and not env.get("AFTERCARE_PUBLIC_URL") and not env.get("AFTERCARE_PUBLIC_URL_FILE"):
        env["AFTERCARE_PUBLIC_URL"] = served_url(addr)
    return env


class Command(BaseCommand):
    help = "Run the whole product in the foreground: web, Celery worker and beat."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000", help="Where the web server listens")
        parser.add_argument("--no-seed", action="store_true", help="Do not load the demo clinic")

    def handle(self, *args: Any, **options: Any) -> None:
        from honcho.manager import Manager
        from honcho.printer import Printer

        env = child_environment(options["addr"], dict(os.environ), debug=settings.DEBUG)
        # This process prints the sign-in address too (seed_demo): the same one the children use.
        settings.AFTERCARE_PUBLIC_URL = env.get("AFTERCARE_PUBLIC_URL", settings.AFTERCARE_PUBLIC_URL).rstrip("/")
        call_command("migrate", interactive=False, verbosity=1)
        if not options["no_seed"]:
            call_command("seed_demo")

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
        self.stdout.write(
            f"Serving {served_url(options['addr'])}/ (sign in there; API docs at /api/docs/). Ctrl-C stops everything."
        )
        manager.loop()
        sys.exit(manager.returncode)
