"""The caseload page against the caseload JSON endpoint, for one clinician with 5 000 patients.

Targets (DESIGN.md): a 50-row page of a 5 000-patient caseload under 0.1 s of worker time, and
the dashboard page at most 2 times its JSON (`/api/v1/dashboard/caseload/?page_size=50`: the
same fifty rows). Both are requested by the same signed-in staff member (one session cookie:
password and second factor passed).

Two measurements, on the first page and on a later one (page 60 of 100, reached by the cursor of
the page before, as a reader walking the list gets there):
- worker time: each request through the whole Django stack (middleware, view, template or
  serializer, every query, the access event) in this process with Django's test client, timed
  by the wall clock (CPU and the wait for PostgreSQL) and by this process's CPU clock; median of
  `SAMPLES`. No HTTP server: what a gunicorn worker spends on the request, without the socket.
- throughput: gunicorn (one worker, one thread) serving the page and the JSON back to back in
  each round, requests a second; the ratio of the two is the page's cost in JSON requests.
Also reported: the page for the whole clinic (every patient of the seed), a risk level of it, and
a search, as seconds per request.
"""

from __future__ import annotations

import statistics
import time
from urllib.parse import parse_qs, urlsplit

from django.db import connection
from django.test import Client

from aftercare.risk.engine import evaluate
from bench import seed
from bench.harness import http_server, requests_per_second
from clinic.models import Clinic, Patient, Role, StaffMembership, User
from tests.factories import verified_login

CASELOAD = 5_000
ROUNDS = 7
SECONDS = 2.0
SAMPLES = 21
LATER_PAGE = 60
PAGE = "/caseload/"
JSON = "/api/v1/dashboard/caseload/?page_size=50"
HOST = "127.0.0.1"
OTHER_PAGES = {
    "caseload page, whole clinic": "/caseload/?whose=all",
    "caseload page, whole clinic, high risk": "/caseload/?whose=all&risk=high",
    "caseload page, search by name": "/caseload/?q=Family1",
}


def _clinician_with_patients(clinic: Clinic) -> User:
    """The seed's first clinician, now the assigned clinician of every patient the seed's first
    five clinicians see (5 000 of the 50 000), with the flags the risk rules raise for them."""
    memberships = list(
        StaffMembership.objects.filter(clinic=clinic, role=Role.CLINICIAN).select_related("user").order_by("pk")
    )
    per_clinician = seed.PATIENTS // seed.CLINICIANS
    chosen = [membership.user for membership in memberships[: -(-CASELOAD // per_clinician)]]
    user = chosen[0]
    user.first_name, user.last_name = "Bench", "Clinician"
    user.save(update_fields=["first_name", "last_name"])
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE clinic_patient SET assigned_clinician_id = %s WHERE id IN "
            "(SELECT DISTINCT patient_id FROM aftercare_appointment WHERE clinician_id = ANY(%s::uuid[]))",
            [user.pk, [str(other.pk) for other in chosen]],
        )
        cursor.execute("ANALYZE clinic_patient")
    patients = list(Patient.objects.filter(clinic=clinic, assigned_clinician=user).values_list("pk", flat=True))
    assert len(patients) == CASELOAD, f"{len(patients)} patients on the caseload, {CASELOAD} wanted"
    evaluate(patient_ids=patients)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE aftercare_riskflag")  # as autovacuum would after the flags were raised
    return user


def _signed_in(user: User) -> Client:
    client = Client(HTTP_HOST=HOST)
    verified_login(client, user)
    return client


def _get(client: Client, path: str, accept: str) -> bytes:
    response = client.get(path, HTTP_ACCEPT=accept)
    if response.status_code != 200:
        raise RuntimeError(f"{path} answered {response.status_code}: {response.content[:200]!r}")
    return response.content


def _worker_time(client: Client, path: str, accept: str) -> tuple[float, float]:
    """Median wall and CPU seconds of one request in this process (after one to warm up)."""
    _get(client, path, accept)
    wall, cpu = [], []
    for _ in range(SAMPLES):
        started, started_cpu = time.perf_counter(), time.process_time()
        _get(client, path, accept)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return statistics.median(wall), statistics.median(cpu)


def _later_cursor(client: Client) -> str:
    """The cursor of page `LATER_PAGE`, walked to by the JSON's `next` links."""
    path = JSON
    for _ in range(LATER_PAGE - 1):
        response = client.get(path, HTTP_ACCEPT="application/json")
        link = response.json()["next"]
        assert link is not None, "the caseload ended early"
        path = f"{urlsplit(link).path}?{urlsplit(link).query}"
    return parse_qs(urlsplit(path).query)["cursor"][0]


def _report_worker_times(client: Client) -> dict[str, float]:
    cursor = _later_cursor(client)
    paths = {
        "first page": (PAGE, JSON),
        f"page {LATER_PAGE} (cursor)": (f"{PAGE}?cursor={cursor}", f"{JSON}&cursor={cursor}"),
    }
    result: dict[str, float] = {}
    for name, (page_path, json_path) in paths.items():
        page_wall, page_cpu = _worker_time(client, page_path, "text/html")
        json_wall, json_cpu = _worker_time(client, json_path, "application/json")
        result[f"{name} page"], result[f"{name} json"] = page_wall, json_wall
        print(
            f"  worker time, {name}: page {page_wall * 1000:5.1f} ms (CPU {page_cpu * 1000:4.1f} ms), "
            f"JSON {json_wall * 1000:5.1f} ms (CPU {json_cpu * 1000:4.1f} ms), page / JSON {page_wall / json_wall:.2f}"
        )
    worst = max(result.values())
    print(
        f"caseload worker time ({CASELOAD} patients, 50-row pages, in-process test client, wall clock): "
        f"slowest {worst * 1000:.1f} ms (target under 100 ms)"
    )
    return result


def run(clinic: Clinic) -> float:
    user = _clinician_with_patients(clinic)
    patients = Patient.objects.filter(clinic=clinic, assigned_clinician=user).count()
    client = _signed_in(user)
    print(f"  clinician with {patients} patients")
    _report_worker_times(client)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    page_headers = {"Cookie": cookie, "Accept": "text/html"}
    json_headers = {"Cookie": cookie, "Accept": "application/json"}
    ratios: list[float] = []
    with http_server() as port:
        for path, headers in ((PAGE, page_headers), (JSON, json_headers)):  # warm up both code paths
            requests_per_second(port, path, headers, 1.0)
        for _ in range(ROUNDS):
            # Back to back in each round, so drift on the machine hits both alike.
            page = requests_per_second(port, PAGE, page_headers, SECONDS)
            json = requests_per_second(port, JSON, json_headers, SECONDS)
            ratios.append(json / page)  # the page's cost per request, in JSON requests
            print(f"  page {page:6.1f} req/s ({1000 / page:6.1f} ms), JSON {json:6.1f} req/s "
                  f"({1000 / json:6.1f} ms), page costs {ratios[-1]:.2f}x the JSON")  # fmt: skip
        for name, path in OTHER_PAGES.items():
            rate = requests_per_second(port, path, page_headers, SECONDS)
            print(f"  {name}: {rate:6.1f} req/s ({1000 / rate:6.1f} ms a request)")
    result = statistics.median(ratios)
    print(f"caseload page ({patients} patients, 50 a page) / caseload JSON (50 a page), over HTTP: "
          f"median {result:.2f}x (target 2 or less)")  # fmt: skip
    return result
