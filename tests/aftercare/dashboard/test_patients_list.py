"""The patient list: every role finds a patient by name, MRN or date of birth; nothing clinical on
it (front desk uses it too); other clinics' patients never; every patient shown in the access log;
the same queries for 10 patients as for 1 000."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aftercare.models import RiskFlag, RiskRule, Severity
from clinic.models import AccessEvent, Clinic, Patient, PatientStatus, Role, User
from tests.factories import ClinicFactory, MembershipFactory, PatientFactory

URL = "/patients/"
NOW = timezone.now()
StaffClient = Callable[..., tuple[Client, User]]


@pytest.fixture
def clinic(db: None) -> Clinic:
    return ClinicFactory.create()


def shown(response: Any) -> list[uuid.UUID]:
    return [patient.pk for patient in response.context["patients"]]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.CLINICIAN, Role.CASE_MANAGER, Role.FRONT_DESK, Role.AUDITOR])
def test_every_role_finds_patients_by_name_mrn_or_date_of_birth(
    clinic: Clinic, staff_client: StaffClient, role: str
) -> None:
    client, _user = staff_client(clinic, role)
    clinician = MembershipFactory.create(clinic=clinic, role=Role.CLINICIAN).user
    ana = PatientFactory.create(clinic=clinic, given_name="Ana", family_name="Quintero", external_id="MRN-4242",
                                date_of_birth=datetime.date(1980, 11, 24), assigned_clinician=clinician)  # fmt: skip
    bo = PatientFactory.create(clinic=clinic, given_name="Bo", family_name="Lindqvist", external_id="MRN-1717",
                               date_of_birth=datetime.date(1991, 3, 2), status=PatientStatus.DISCHARGED,
                               discharge_date=timezone.localdate())  # fmt: skip

    everyone = client.get(URL)
    assert everyone.status_code == 200
    assert shown(everyone) == [bo.pk, ana.pk]  # by family name
    body = everyone.content.decode()
    assert "<h1>Patients</h1>" in body
    for text in ("Quintero, Ana", "MRN-4242", "24 Nov 1980", "Active", "Discharged", ana.phone,
                 f"{clinician.first_name} {clinician.last_name}"):  # fmt: skip
        assert text in body
    assert shown(client.get(URL, {"q": "quint ana"})) == [ana.pk]
    assert shown(client.get(URL, {"q": "mrn-1717"})) == [bo.pk]
    assert shown(client.get(URL, {"born": "1980-11-24"})) == [ana.pk]
    assert shown(client.get(URL, {"status": "discharged"})) == [bo.pk]
    assert shown(client.get(URL, {"q": "quintero", "born": "1991-03-02"})) == []


def test_front_desk_sees_no_flag_or_risk(clinic: Clinic, staff_client: StaffClient) -> None:
    client, _user = staff_client(clinic, Role.FRONT_DESK)
    patient = PatientFactory.create(clinic=clinic)
    RiskFlag.objects.create(
        clinic=clinic, patient=patient, rule=RiskRule.NO_CONTACT, severity=Severity.HIGH, evidence=[],
        raised_at=NOW, evidence_updated_at=NOW,
    )  # fmt: skip
    body = client.get(URL).content.decode()
    assert patient.family_name in body
    for clinical in ("chip", "High", "No attended session", "flag", "risk", "Risk"):
        assert clinical not in body, clinical


def test_a_bad_date_is_an_error_next_to_the_field_not_a_failure(clinic: Clinic, staff_client: StaffClient) -> None:
    client, _user = staff_client(clinic, Role.FRONT_DESK)
    patient = PatientFactory.create(clinic=clinic)
    response = client.get(URL, {"born": "1980-13-45"})
    assert response.status_code == 200
    assert 'id="id_born_error"' in response.content.decode()
    assert shown(response) == [patient.pk]


def test_another_clinics_patients_never_appear(clinic: Clinic, staff_client: StaffClient) -> None:
    client, _user = staff_client(clinic, Role.ADMIN)
    mine = PatientFactory.create(clinic=clinic)
    theirs = PatientFactory.create(clinic=ClinicFactory.create())
    assert shown(client.get(URL)) == [mine.pk]
    searched = client.get(URL, {"q": str(theirs.external_id)})
    assert shown(searched) == []
    assert theirs.family_name not in searched.content.decode()


def test_the_access_log_names_every_patient_shown(clinic: Clinic, staff_client: StaffClient) -> None:
    client, user = staff_client(clinic, Role.FRONT_DESK)
    patients = PatientFactory.create_batch(3, clinic=clinic)
    before = AccessEvent.objects.count()
    response = client.get(URL)
    assert AccessEvent.objects.count() == before + 1
    event = AccessEvent.objects.order_by("-at").first()
    assert event is not None
    assert (event.action, event.object_type, event.user_id) == ("list", "dashboard.patients", user.pk)
    assert event.object_ids == shown(response)
    assert set(event.patient_ids) == {patient.pk for patient in patients}


def test_fifty_a_page_and_the_links_keep_the_search(clinic: Clinic, staff_client: StaffClient) -> None:
    client, _user = staff_client(clinic, Role.FRONT_DESK)
    Patient.objects.bulk_create([PatientFactory.build(clinic=clinic, family_name="Garcia") for _ in range(51)])
    first = client.get(URL, {"q": "garcia"})
    assert len(shown(first)) == 50
    assert 'href="?q=garcia&amp;page=2"' in first.content.decode()
    assert len(shown(client.get(URL, {"q": "garcia", "page": "2"}))) == 1


def test_each_name_links_to_the_patient_page(clinic: Clinic, staff_client: StaffClient, settings: Any) -> None:
    client, _user = staff_client(clinic, Role.FRONT_DESK)
    patient = PatientFactory.create(clinic=clinic)
    body = client.get(URL).content.decode()
    assert f'<a href="/patients/{patient.pk}/">{patient.family_name}, {patient.given_name}</a>' in body


def test_a_signed_out_visitor_is_sent_to_sign_in(client: Client, db: None) -> None:
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"] == "/sign-in/?next=/patients/"


# The staff member (session, user, authenticator device, membership with its clinic), the count
# and the page (clinicians joined), and the access event (written with its change-history context).
PATIENTS_PAGE_QUERIES = 7


@pytest.mark.parametrize("size", [10, 1000])
def test_the_page_costs_the_same_queries_for_10_and_1000_patients(
    clinic: Clinic, staff_client: StaffClient, size: int
) -> None:
    client, _user = staff_client(clinic, Role.FRONT_DESK)
    clinician = MembershipFactory.create(clinic=clinic, role=Role.CLINICIAN).user
    Patient.objects.bulk_create(
        [PatientFactory.build(clinic=clinic, assigned_clinician=clinician) for _ in range(size)]
    )
    client.get(URL)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL)
    assert len(shown(response)) == min(size, 50)
    assert len(queries) == PATIENTS_PAGE_QUERIES, "\n".join(q["sql"][:150] for q in queries.captured_queries)
