from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from aftercare.services.reminder_dispatch import reminders_dispatch_all


class Command(BaseCommand):
    help = "Send every reminder that is due now (one dispatch pass; safe beside running workers)."

    def handle(self, *args: Any, **options: Any) -> None:
        result = reminders_dispatch_all()
        self.stdout.write(
            f"sent {result.sent}, retrying {result.retried}, failed {result.failed}, "
            f"expired {result.expired}, cancelled {result.cancelled}, skipped {result.skipped} "
            "(a later reminder of the session was due too); left by stopped workers: "
            f"{result.released} queued again, {result.in_doubt} in doubt (not resent)"
        )
