"""The full risk sweep against one raw SQL aggregate over the same appointments, in one run.

Target (DESIGN.md): a sweep over 50 000 patients and 1 000 000 appointments within 3 times one
raw aggregate over the same table; the sweeping process's peak memory under 300 MB. The sweep runs
in its own process (as the hourly task does in a worker), so its memory is its own.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from django.db import connection

from bench.harness import ROOT, PeakMemory
from clinic.embedded import database_url
from clinic.models import Clinic

RAW_AGGREGATE = """
SELECT count(*), sum(missed), max(last_attended) FROM (
    SELECT patient_id,
           count(*) FILTER (WHERE attendance_status IN ('missed', 'late_cancelled')) AS missed,
           max(starts_at) FILTER (WHERE attendance_status IN ('attended', 'late')) AS last_attended
    FROM aftercare_appointment GROUP BY patient_id
) AS per_patient
"""

SWEEP = """
import json, time, django
django.setup()
from aftercare.risk.engine import evaluate
started = time.perf_counter()
result = evaluate()
print(json.dumps({"seconds": time.perf_counter() - started, "patients": result.patients,
                  "raised": result.raised, "escalated": result.escalated, "left_alone": result.left_alone}))
"""


def _raw_aggregate() -> float:
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(RAW_AGGREGATE)
        cursor.fetchall()
        return time.perf_counter() - started


def _sweep() -> tuple[dict[str, Any], float]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
        "CELERY_BROKER_URL": "memory://",
        "EMAIL_URL": "dummymail://",
        "AFTERCARE_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-c", SWEEP], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    memory = PeakMemory(process.pid)
    memory.start()
    output, errors = process.communicate(timeout=900)
    memory.running = False
    if process.returncode != 0:
        raise RuntimeError(f"the sweep failed: {errors[-2000:]}")
    return json.loads(output.strip().splitlines()[-1]), memory.peak / 2**20


def run(clinic: Clinic) -> dict[str, Any]:
    del clinic  # the sweep covers every clinic
    _raw_aggregate()  # warm the cache: both measurements read the table from memory
    first, first_peak = _sweep()
    print(
        f"  first sweep: {first['seconds']:.2f} s over {first['patients']} patients "
        f"(raised {first['raised']}), peak {first_peak:.0f} MB"
    )
    ratios, peaks = [], [first_peak]
    for _ in range(3):
        raw = min(_raw_aggregate() for _ in range(3))
        again, peak = _sweep()
        peaks.append(peak)
        ratios.append(again["seconds"] / raw)
        print(
            f"  sweep {again['seconds']:.2f} s (raised {again['raised']}, left alone {again['left_alone']}), "
            f"raw aggregate {raw:.2f} s, ratio {ratios[-1]:.2f}"
        )
    ratio = statistics.median(ratios)
    first_ratio = first["seconds"] / raw
    print(
        f"risk sweep / raw aggregate: median ratio {ratio:.2f} (first sweep, raising every flag: "
        f"{first_ratio:.2f}; target 3 or less), peak {max(peaks):.0f} MB (under 300)"
    )
    return {"risk_ratio": ratio, "risk_first_ratio": first_ratio, "risk_peak_mb": max(peaks)}
