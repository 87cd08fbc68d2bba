"""`make bench`: every benchmark, each as a ratio against a baseline measured in the same run.
`make bench BENCH=reminders` (or `python -m bench reminders api_lists`) runs only those named."""

from __future__ import annotations

import os
import sys

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    from bench import api_lists, caseload, reminders, risk, seed
    from bench.harness import scratch_database

    chosen = set(sys.argv[1:]) or {"api_lists", "caseload", "reminders", "risk"}
    with scratch_database():
        clinic, seconds = seed.seed()
        appointments = seed.PATIENTS * seed.APPOINTMENTS_PER_PATIENT
        print(f"== seeded {seed.PATIENTS} patients and {appointments} appointments in {seconds:.0f} s")
        records = ", ".join(f"{n} {kind}" for kind, n in seed.RECORDS.items())
        print(f"   and, for the rules beyond attendance: {records}")
        if "api_lists" in chosen:
            print("== API list endpoints")
            api_lists.run(clinic)
        if "caseload" in chosen:
            print("== caseload page against its JSON endpoint")
            caseload.run(clinic)
        if "risk" in chosen:
            print("== risk sweep")
            risk.run(clinic)
        if "reminders" in chosen:
            print(f"== reminder dispatch ({reminders.ITEMS} due reminders)")
            reminders.run(clinic)


if __name__ == "__main__":
    main()
