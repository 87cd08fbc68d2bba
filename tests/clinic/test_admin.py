"""The Django admin shows a clinic administrator their own clinics' records and nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from clinic.models import Clinic, Patient, Role, User
from tests.factories import MembershipFactory, PatientFactory, UserFactory, verified_login


@pytest.fixture
def admin_client_a(clinic_a: Clinic) -> Client:
    user = UserFactory.create(is_staff=True)
    MembershipFactory.create(user=user, clinic=clinic_a, role=Role.ADMIN)
    browser = Client()
    verified_login(browser, user)
    return browser


def test_a_clinic_admin_lists_only_their_clinics_patients(
    admin_client_a: Client, clinic_a: Clinic, clinic_b: Clinic
) -> None:
    PatientFactory.create(clinic=clinic_a, family_name="Ourpatient")
    PatientFactory.create(clinic=clinic_b, family_name="Theirpatient")
    page = admin_client_a.get("/admin/clinic/patient/")
    assert page.status_code == 200
    assert b"Ourpatient" in page.content
    assert b"Theirpatient" not in page.content


def test_a_clinic_admin_cannot_open_another_clinics_patient(admin_client_a: Client, clinic_b: Clinic) -> None:
    theirs = PatientFactory.create(clinic=clinic_b, family_name="Theirpatient")
    response = admin_client_a.get(f"/admin/clinic/patient/{theirs.pk}/change/")
    # Django's admin answers a missing object with a redirect to the index and a message.
    assert response.status_code == 302
    assert b"Theirpatient" not in admin_client_a.get(response["Location"]).content


def test_a_clinic_admin_cannot_delete_a_patient(admin_client_a: Client, clinic_a: Clinic) -> None:
    patient = PatientFactory.create(clinic=clinic_a)
    assert admin_client_a.post(f"/admin/clinic/patient/{patient.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Patient.objects.filter(pk=patient.pk).exists()


def test_a_clinic_admin_can_only_pick_their_own_clinics(admin_client_a: Client, clinic_b: Clinic) -> None:
    form = admin_client_a.get("/admin/clinic/patient/add/")
    assert form.status_code == 200
    assert str(clinic_b.pk).encode() not in form.content


def test_a_clinic_admin_sees_only_their_clinic(admin_client_a: Client, clinic_b: Clinic) -> None:
    page = admin_client_a.get("/admin/clinic/clinic/")
    assert b"Clinic A" in page.content
    assert b"Clinic B" not in page.content


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.CASE_MANAGER, Role.FRONT_DESK, Role.AUDITOR])
def test_staff_without_the_admin_role_get_no_admin_pages(
    clinic_a: Clinic, make_staff: Callable[..., Any], role: str
) -> None:
    user = UserFactory.create(is_staff=True)
    MembershipFactory.create(user=user, clinic=clinic_a, role=role)
    PatientFactory.create(clinic=clinic_a)
    browser = Client()
    verified_login(browser, user)
    assert browser.get("/admin/clinic/patient/").status_code == 403


def test_an_operator_sees_every_clinic(clinic_a: Clinic, clinic_b: Clinic) -> None:
    operator = User.objects.create_superuser("operator", "operator@example.org", "x" * 20)
    browser = Client()
    verified_login(browser, operator)
    page = browser.get("/admin/clinic/clinic/")
    assert b"Clinic A" in page.content
    assert b"Clinic B" in page.content
