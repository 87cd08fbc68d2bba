"""List endpoints against the cheapest authenticated DRF endpoint, on one server in one run.

Target (DESIGN.md): the appointments list, 50 a page, bearer token, clinic scope, at 0.5 times
or more the requests/second of a trivial authenticated endpoint.
"""

from __future__ import annotations

import statistics

from bench.harness import http_server, requests_per_second
from clinic.models import Clinic
from tests.factories import access_token, integration_client

ROUNDS = 7
SECONDS = 2.0
ENDPOINTS = {
    "appointments list (50/page)": "/api/v1/appointments/?page_size=50",
    "patients list (50/page)": "/api/v1/patients/?page_size=50",
}


def run(clinic: Clinic) -> dict[str, float]:
    token = access_token(integration_client(clinic, ["patients:read", "schedule:read"]))
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    ping = "/bench/ping/"
    ratios: dict[str, list[float]] = {name: [] for name in ENDPOINTS}
    with http_server() as port:
        for path in (ping, *ENDPOINTS.values()):  # warm up every code path
            requests_per_second(port, path, headers, 1.0)
        for _ in range(ROUNDS):
            for name, path in ENDPOINTS.items():
                # Back to back in each round, so drift on the machine hits both alike.
                trivial = requests_per_second(port, ping, headers, SECONDS)
                measured = requests_per_second(port, path, headers, SECONDS)
                ratios[name].append(measured / trivial)
                print(f"  {name}: {measured:7.1f} req/s, trivial {trivial:7.1f} req/s, ratio {ratios[name][-1]:.2f}")
    result = {}
    for name, values in ratios.items():
        result[name] = statistics.median(values)
        print(f"{name} / trivial authenticated: median ratio {result[name]:.2f} (target 0.5 or more)")
    return result
