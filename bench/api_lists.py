"""List endpoints against the cheapest authenticated DRF endpoint, on one server in one run.

Target (DESIGN.md): a list page of 50 with bearer token, clinic scope and access log at 0.5 times or more
the requests/second of a trivial authenticated endpoint.
"""

from __future__ import annotations

import datetime
import random
import statistics

from django.db import connection
from django.utils import timezone

from bench.harness import http_server, requests_per_second
from clinic.models import Clinic, Patient
from tests.factories import access_token, integration_client

PATIENTS_PER_CLINIC = 5_000
ROUNDS = 7
SECONDS = 2.0


def _seed() -> str:
    rng = random.Random(7)
    today = timezone.localdate()
    clinics = [Clinic.objects.create(slug=f"bench-{n}", name=f"Bench {n}", time_zone="UTC") for n in range(2)]
    for clinic in clinics:
        Patient.objects.bulk_create(
            Patient(
                clinic=clinic,
                external_id=f"B{n:07d}",
                given_name=f"Given{n}",
                family_name=f"Family{n}",
                date_of_birth=datetime.date(1960, 1, 1) + datetime.timedelta(days=rng.randint(0, 15000)),
                email=f"p{n}@example.org",
                intake_date=today - datetime.timedelta(days=rng.randint(1, 400)),
            )
            for n in range(PATIENTS_PER_CLINIC)
        )
    with connection.cursor() as cursor:
        # As autovacuum would have by now on a real database: the planner needs statistics.
        cursor.execute("ANALYZE")
    return access_token(integration_client(clinics[0], ["patients:read"]))


def run() -> dict[str, float]:
    token = _seed()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    ping, page = "/bench/ping/", "/api/v1/patients/?page_size=50"
    ratios: list[float] = []
    with http_server() as port:
        requests_per_second(port, ping, headers, 1.0)  # warm up both code paths
        requests_per_second(port, page, headers, 1.0)
        for _ in range(ROUNDS):
            # Back to back in each round, so drift on the machine hits both alike.
            trivial = requests_per_second(port, ping, headers, SECONDS)
            patients = requests_per_second(port, page, headers, SECONDS)
            ratios.append(patients / trivial)
            print(f"  round: patients list {patients:7.1f} req/s, trivial {trivial:7.1f} req/s, ratio {ratios[-1]:.2f}")
    ratio = statistics.median(ratios)
    print(f"patients list (50/page) / trivial authenticated: median ratio {ratio:.2f} (target 0.5 or more)")
    return {"patients_list_ratio": ratio}
