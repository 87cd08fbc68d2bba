from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandParser

from clinic.management.errors import validation_error_to_command_error
from clinic.services.clinics import clinic_create


class Command(BaseCommand):
    help = "Provision a clinic (tenant). Prints the new clinic as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--slug", required=True, help="Short identifier, e.g. riverbend")
        parser.add_argument("--name", required=True, help="The clinic's name, shown to staff")
        parser.add_argument("--time-zone", required=True, help="IANA time zone, e.g. America/Chicago")
        parser.add_argument("--display-name", default="", help="Neutral name shown to patients in reminders")
        parser.add_argument("--phone", default="", help="Phone number shown to patients")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            clinic = clinic_create(
                slug=options["slug"],
                name=options["name"],
                time_zone=options["time_zone"],
                display_name=options["display_name"],
                phone=options["phone"],
            )
        except ValidationError as exc:
            raise validation_error_to_command_error(exc) from None
        self.stdout.write(json.dumps({"id": str(clinic.pk), "slug": clinic.slug, "time_zone": clinic.time_zone}))
        # On stderr: stdout stays the one JSON line that scripts read.
        self.stderr.write(
            "Next, add the clinic's first admin (they get a one-time link to choose a password), then a client "
            "for the clinic's EHR:\n"
            f"  python manage.py create_staff --clinic {clinic.slug} --username USERNAME --role admin "
            "--first-name FIRST --last-name LAST --email EMAIL\n"
            f"  python manage.py create_api_client --clinic {clinic.slug} --name 'EHR interface' "
            "--scopes 'staff:read patients:read patients:write schedule:read schedule:write'"
        )
