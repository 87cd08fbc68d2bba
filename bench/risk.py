"""The full risk sweep against two raw SQL aggregates, in one run.

Target (DESIGN.md): a sweep over 50 000 patients and 1 000 000 appointments within 3 times one
raw aggregate over the same table; the sweeping process's peak memory under 300 MB. The sweep runs
in its own process (as the hourly task does in a worker), so its memory is its own.

Two baselines, both timed in this process on a warm cache, back to back with each sweep:
- the appointments: per patient, the missed sessions and the last attended one, read from every
  appointment (what a sweep without the summary table would have to compute): DESIGN.md's target;
- the risk summary the sweep actually reads (aftercare/models/summary.py): every active or
  discharged patient joined to its summary row, aggregating the columns the rules test (last
  attended, the missed timelines' lengths). The sweep's ratio to this one is what the rules,
  the evidence and the writes cost on top of reading their input once.
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

# The sweep's input (engine.py, `p`): the patients it evaluates, each with its summary.
SUMMARY_AGGREGATE = """
SELECT count(*), max(s.attended_at), max(s.medication_attended_at),
       sum(cardinality(s.missed_at)), sum(cardinality(s.medication_missed_at))
FROM clinic_patient pa
LEFT JOIN aftercare_risksummary s ON s.patient_id = pa.id
WHERE pa.status IN ('active', 'discharged')
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


def _raw_aggregate(sql: str = RAW_AGGREGATE) -> float:
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(sql)
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
    _raw_aggregate()  # warm the cache: every measurement reads its tables from memory
    _raw_aggregate(SUMMARY_AGGREGATE)
    first, first_peak = _sweep()
    print(
        f"  first sweep: {first['seconds']:.2f} s over {first['patients']} patients "
        f"(raised {first['raised']}), peak {first_peak:.0f} MB"
    )
    ratios, summary_ratios, peaks = [], [], [first_peak]
    for _ in range(3):
        raw = min(_raw_aggregate() for _ in range(3))
        summary = min(_raw_aggregate(SUMMARY_AGGREGATE) for _ in range(3))
        again, peak = _sweep()
        peaks.append(peak)
        ratios.append(again["seconds"] / raw)
        summary_ratios.append(again["seconds"] / summary)
        print(
            f"  sweep {again['seconds']:.2f} s (raised {again['raised']}, left alone {again['left_alone']}); "
            f"aggregate over the appointments {raw:.3f} s, ratio {ratios[-1]:.2f}; "
            f"over the patients' risk summaries {summary:.3f} s, ratio {summary_ratios[-1]:.1f}"
        )
    ratio = statistics.median(ratios)
    summary_ratio = statistics.median(summary_ratios)
    first_ratio = first["seconds"] / raw
    print(
        f"risk sweep / raw aggregate over the appointments: median ratio {ratio:.2f} (first sweep, raising "
        f"every flag: {first_ratio:.2f}; target 3 or less), peak {max(peaks):.0f} MB (under 300)"
    )
    print(
        f"risk sweep / raw aggregate over the risk summary it reads (patients joined to their summary rows): "
        f"median ratio {summary_ratio:.1f} (first sweep: {first['seconds'] / summary:.1f}; no target: what the "
        "rules, evidence and writes add to one read of their input)"
    )
    return {
        "risk_ratio": ratio,
        "risk_first_ratio": first_ratio,
        "risk_summary_ratio": summary_ratio,
        "risk_peak_mb": max(peaks),
    }
