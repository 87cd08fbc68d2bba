from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction

from aftercare.risk.engine import risk_sweep


class Command(BaseCommand):
    help = "Evaluate every risk rule for every patient now (the hourly sweep; safe beside running workers)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--rebuild",
            action="store_true",
            help="First recompute every patient's risk summary from the sessions (after a bulk load that "
            "bypassed the database's triggers).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rebuild"]:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT aftercare_risk_summary_refresh(NULL)")
            self.stdout.write("Risk summaries rebuilt.")
        result = risk_sweep()
        self.stdout.write(
            f"{result.patients} patients: raised {result.raised}, escalated {result.escalated}, "
            f"evidence changed {result.evidence_changed}, no longer firing {result.lapsed}, "
            f"left alone {result.left_alone}"
        )
