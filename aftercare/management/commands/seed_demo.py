"""`manage.py seed_demo`: the demo clinic with months of history. Idempotent: a second run creates
nothing and prints the same logins (kept in `<data dir>/demo-credentials.json`, mode 0600)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from aftercare.demo import seed_history
from aftercare.risk.engine import evaluate
from clinic.demo import seed_organisation


class Command(BaseCommand):
    help = "Load (or refresh) the demo clinic and print its staff logins and API client credentials."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Seed even though DJANGO_DEBUG is off and the embedded services are not in use.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not (settings.DEBUG or settings.EMBEDDED or options["allow_production"]):
            raise CommandError("Refusing to load demo data and demo logins into a production deployment.")
        demo = seed_organisation()
        created = seed_history(demo.clinic)
        write = self.stdout.write
        clinic = demo.clinic
        write(self.style.SUCCESS(f"Demo clinic '{clinic.name}' (slug '{clinic.slug}', {clinic.time_zone}) is ready."))
        if created:
            write("  with months of plans, sessions, support groups, dosing, screens, step-downs and check-ins.")
        flags = evaluate()  # what the hourly sweep would have found by now
        write(f"  risk sweep: {flags.raised} flags raised, {flags.left_alone + flags.escalated} already open.")
        address = f"{settings.AFTERCARE_PUBLIC_URL}/"
        write(f"Staff sign-in: {address}  (every role; the Django admin at {address}admin/ is for operators)")
        write("  Type the username and password, and in the code box one of that person's recovery codes")
        write("  (each works once; new ones at every load), or the 6 digits of an authenticator app that")
        write("  holds their key (the same key at every load).")
        for login in demo.logins:
            member = login.member
            write(f"  {member.username:<18} {member.role.label:<14} password: {demo.password}")
            write(f"  {'':<18} recovery codes: {'  '.join(login.recovery_codes[:3])}")
            write(f"  {'':<18} authenticator key: {login.secret}")
        write("Demo API client (OAuth2 client credentials, POST /o/token/):")
        write(f"  client_id:     {demo.client_id}")
        write(f"  client_secret: {demo.client_secret}")
