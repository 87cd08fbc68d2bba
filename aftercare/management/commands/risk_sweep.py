from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from aftercare.risk.engine import evaluate


class Command(BaseCommand):
    help = "Evaluate every risk rule for every patient now (the hourly sweep; safe beside running workers)."

    def handle(self, *args: Any, **options: Any) -> None:
        result = evaluate()
        self.stdout.write(
            f"{result.patients} patients: raised {result.raised}, escalated {result.escalated}, "
            f"evidence changed {result.evidence_changed}, no longer firing {result.lapsed}, "
            f"left alone {result.left_alone}"
        )
