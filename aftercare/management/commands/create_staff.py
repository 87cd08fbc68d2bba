from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from aftercare.services.staff import staff_invite
from clinic.management.errors import validation_error_to_command_error
from clinic.models import Clinic, Role

# The options, by the field each one sets (a refusal names the option the operator typed).
# The fields a refusal may name, each given on the command line as `--<name-with-dashes>`.
_OPTIONS = frozenset({"username", "role", "first_name", "last_name", "email", "external_id", "npi"})


class Command(BaseCommand):
    help = (
        "Add a staff member to a clinic: an account without a password, their role, and a one-time "
        "invitation link (printed, and emailed when --email is given) with which they choose a password "
        "and set up an authenticator app. Prints the new member as JSON; never prints a password."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clinic", required=True, help="The clinic's slug")
        parser.add_argument("--username", required=True, help="What they sign in with")
        parser.add_argument("--role", required=True, choices=Role.values, help="Their role in this clinic")
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")
        parser.add_argument("--email", default="", help="Where the invitation is emailed")
        parser.add_argument(
            "--external-id", default=None, help="The EHR's identifier of this person (provider id), unique per clinic"
        )
        parser.add_argument("--npi", default=None, help="National Provider Identifier (10 digits)")

    def handle(self, *args: Any, **options: Any) -> None:
        clinic = Clinic.objects.filter(slug=options["clinic"]).first()
        if clinic is None:
            raise CommandError(f"--clinic: no clinic with slug {options['clinic']!r}.")
        try:
            invitation = staff_invite(
                clinic=clinic,
                first_name=options["first_name"],
                last_name=options["last_name"],
                email=options["email"],
                username=options["username"],
                role=options["role"],
                external_id=options["external_id"],
                npi=options["npi"],
            )
        except ValidationError as exc:
            raise validation_error_to_command_error(exc, _OPTIONS) from None
        membership = invitation.membership
        self.stdout.write(
            json.dumps(
                {
                    "id": str(invitation.user.pk),
                    "clinic": clinic.slug,
                    "role": membership.role,
                    "external_id": membership.external_id,
                    "npi": membership.npi,
                    "invite_link": invitation.link,
                    "invite_emailed": invitation.emailed,
                }
            )
        )
        # For the operator, beside the machine-readable line: what to do with the link.
        self.stderr.write(
            f"{invitation.user.username} signs in by opening invite_link (once, within "
            f"{settings.AFTERCARE_INVITE_HOURS} hours): they choose a password and set up an authenticator app."
            + (" The link was also emailed to them." if invitation.emailed else " Pass it on to them securely.")
        )
