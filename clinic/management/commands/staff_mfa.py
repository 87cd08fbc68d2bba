from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from clinic.models import User
from clinic.services.mfa import mfa_enroll


class Command(BaseCommand):
    help = (
        "Give a staff member a new authenticator (TOTP) and ten one-time recovery codes; prints them "
        "once. Any authenticator and recovery codes they had stop working."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError("username: no such user")
        with transaction.atomic():
            enrolment = mfa_enroll(user=user)
        self.stdout.write(f"authenticator (scan or type into the app): {enrolment.otpauth_url}")
        self.stdout.write("recovery codes (each works once):")
        for code in enrolment.recovery_codes:
            self.stdout.write(f"  {code}")
