"""List endpoints against a minimal DRF API, under concurrent load, in one run.

Target (DESIGN.md): the appointments and patients lists, 50 a page, bearer token, clinic scope,
access log, at 0.5 times or more the requests/second of a minimal Django + DRF endpoint doing one
indexed bearer-token lookup (`bench/minimal`: its own settings, no product middleware), both served
by the product's gunicorn configuration with the same number of sync workers.

Rounds interleave the baseline and each list, so drift on the machine hits both alike; the ratio of
each round is taken against the baseline measured just before it. The product's own trivial
endpoint (`bench/urls.py`, the whole per-request stack and no work) is shown too, as the floor
the lists stand on.
"""

from __future__ import annotations

import os
import statistics
from contextlib import ExitStack

from django.conf import settings

from bench.harness import CONNECTIONS, WORKERS, Load, check_answer, concurrent_load, load_generator, production_server
from bench.minimal.tokens import create_token
from clinic.models import Clinic
from tests.factories import access_token, integration_client

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "3"))
BASELINE = "minimal DRF endpoint"
PRODUCT_FLOOR = "product's trivial endpoint"
ENDPOINTS = {
    "appointments list (50/page)": "/api/v1/appointments/?page_size=50",
    "patients list (50/page)": "/api/v1/patients/?page_size=50",
}


def _summary(name: str, runs: list[Load]) -> str:
    rate = statistics.median(run.rate for run in runs)
    p99 = statistics.median(run.p99_ms for run in runs)
    p50 = statistics.median(run.p50_ms for run in runs)
    return f"{name}: {rate:7.1f} req/s, p50 {p50:6.2f} ms, p99 {p99:6.2f} ms (medians of {len(runs)} rounds)"


def run(clinic: Clinic) -> dict[str, float]:
    product_headers = {
        "Authorization": f"Bearer {access_token(integration_client(clinic, ['patients:read', 'schedule:read']))}",
        "Accept": "application/json",
    }
    minimal_headers = {"Authorization": f"Bearer {create_token('bench')}", "Accept": "application/json"}
    print(
        f"  baseline: {BASELINE}, a Django + DRF project of its own settings (no middleware, no sessions, "
        "no rate limit, no access log) whose one view authenticates the bearer token with DRF's "
        "TokenAuthentication (one indexed SELECT of its SHA-256 digest) and answers a small JSON body"
    )
    print(
        f"  both served by gunicorn with clinic/gunicorn_conf.py, {WORKERS} sync workers, on the same database; "
        f"load: {load_generator()}, {CONNECTIONS} connections, {ROUNDS} rounds of {SECONDS:g} s each"
    )
    if not getattr(settings, "THROTTLED", True):
        print("  NOTE: Redis not reachable (BENCH_CACHE_URL): the product is measured WITHOUT its rate limits")
    else:
        print(f"  the product counts its rate limits in {os.environ.get('CACHE_URL')}, as production does")
    with ExitStack() as stack:
        minimal = stack.enter_context(production_server("bench.minimal.settings"))
        product = stack.enter_context(production_server("bench.settings"))
        targets = {
            BASELINE: (minimal, "/ping/", minimal_headers),
            PRODUCT_FLOOR: (product, "/bench/ping/", product_headers),
            **{name: (product, path, product_headers) for name, path in ENDPOINTS.items()},
        }
        for port, path, headers in targets.values():  # every worker, every code path, warm
            check_answer(port, path, headers)
            concurrent_load(port, path, headers, 1.0)
        runs: dict[str, list[Load]] = {name: [] for name in targets}
        ratios: dict[str, list[float]] = {name: [] for name in targets if name != BASELINE}
        for _ in range(ROUNDS):
            for name in ratios:
                baseline = concurrent_load(*targets[BASELINE], SECONDS)
                measured = concurrent_load(*targets[name], SECONDS)
                runs[BASELINE].append(baseline)
                runs[name].append(measured)
                ratios[name].append(measured.rate / baseline.rate)
                print(
                    f"  {name}: {measured.rate:7.1f} req/s (p99 {measured.p99_ms:6.2f} ms), "
                    f"baseline {baseline.rate:7.1f} req/s (p99 {baseline.p99_ms:6.2f} ms), ratio {ratios[name][-1]:.2f}"
                )
    for name, loads in runs.items():
        print(_summary(name, loads))
    result = {}
    for name, values in ratios.items():
        result[name] = statistics.median(values)
        target = "" if name == PRODUCT_FLOOR else " (target 0.5 or more)"
        print(f"{name} / {BASELINE}: median ratio {result[name]:.2f}{target}")
    return result
