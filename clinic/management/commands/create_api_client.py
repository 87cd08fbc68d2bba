from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.auth.scopes import SCOPES
from clinic.management.errors import validation_error_to_command_error
from clinic.models import Clinic
from clinic.services.integration import integration_client_create


class Command(BaseCommand):
    help = (
        "Create an OAuth2 client-credentials client bound to one clinic. Prints "
        '{"client_id": …, "client_secret": …} as JSON: the secret is shown this once and stored hashed. '
        f"Scopes: {', '.join(SCOPES)}."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clinic", required=True, help="The clinic's slug")
        parser.add_argument("--name", required=True, help="What the client is, e.g. 'Epic interface'")
        parser.add_argument("--scopes", required=True, help='Space-separated, e.g. "patients:read schedule:read"')

    def handle(self, *args: Any, **options: Any) -> None:
        clinic = Clinic.objects.filter(slug=options["clinic"]).first()
        if clinic is None:
            raise CommandError(f"clinic: no clinic with slug {options['clinic']!r}.")
        try:
            credentials = integration_client_create(
                clinic=clinic, name=options["name"], scopes=options["scopes"].split()
            )
        except ValidationError as exc:
            raise validation_error_to_command_error(exc) from None
        self.stdout.write(json.dumps({"client_id": credentials.client_id, "client_secret": credentials.client_secret}))
