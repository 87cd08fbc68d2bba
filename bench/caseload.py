"""The caseload page against the caseload JSON endpoint, for the same clinician, on one server in
one run.

Target (DESIGN.md): the dashboard page (1 000 patients on the caseload, fifty a page) costs at most
2 times the JSON endpoint (`/api/v1/dashboard/caseload/`, paged like every list: the same fifty
rows, `page_size=50`). Both are requested by the
same signed-in staff member (one session cookie: password and second factor passed), back to back
in each round. Also reported: the page for the whole clinic (every patient of the seed) and a
search, as seconds per request.
"""

from __future__ import annotations

import statistics

from django.db import connection
from django.test import Client

from aftercare.risk.engine import evaluate
from bench.harness import http_server, requests_per_second
from clinic.models import Clinic, Patient, Role, StaffMembership, User
from tests.factories import verified_login

ROUNDS = 7
SECONDS = 2.0
PAGE = "/caseload/"
JSON = "/api/v1/dashboard/caseload/?page_size=50"
OTHER_PAGES = {
    "caseload page, whole clinic": "/caseload/?whose=all",
    "caseload page, whole clinic, high risk": "/caseload/?whose=all&risk=high",
    "caseload page, search by name": "/caseload/?q=Family1",
}


def _clinician_with_patients(clinic: Clinic) -> User:
    """The seed's first clinician, now the assigned clinician of every patient they see (1 000 of
    the 50 000), with the flags the risk rules raise for them."""
    membership = (
        StaffMembership.objects.filter(clinic=clinic, role=Role.CLINICIAN).select_related("user").order_by("pk").first()
    )
    assert membership is not None, "the seed makes clinicians"
    user = membership.user
    user.first_name, user.last_name = "Bench", "Clinician"
    user.save(update_fields=["first_name", "last_name"])
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE clinic_patient SET assigned_clinician_id = %s WHERE id IN "
            "(SELECT DISTINCT patient_id FROM aftercare_appointment WHERE clinician_id = %s)",
            [user.pk, user.pk],
        )
        cursor.execute("ANALYZE clinic_patient")
    patients = list(Patient.objects.filter(clinic=clinic, assigned_clinician=user).values_list("pk", flat=True))
    evaluate(patient_ids=patients)
    return user


def _session_cookie(user: User) -> str:
    client = Client()
    verified_login(client, user)
    return f"sessionid={client.cookies['sessionid'].value}"


def run(clinic: Clinic) -> float:
    user = _clinician_with_patients(clinic)
    patients = Patient.objects.filter(clinic=clinic, assigned_clinician=user).count()
    cookie = _session_cookie(user)
    page_headers = {"Cookie": cookie, "Accept": "text/html"}
    json_headers = {"Cookie": cookie, "Accept": "application/json"}
    print(f"  clinician with {patients} patients")
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
    print(f"caseload page ({patients} patients, 50 a page) / caseload JSON (50 a page): "
          f"median {result:.2f}x (target 2 or less)")  # fmt: skip
    return result
