"""The Django admin offers and accepts only the admin's own clinics' users, patients and clinics,
whatever id a crafted request posts, and a membership that ends asks who takes its patients."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from clinic.models import Clinic, Patient, Role, StaffMembership, User
from tests.factories import MembershipFactory, PatientFactory, UserFactory, verified_login


def signed_in(user: User) -> Client:
    browser = Client()
    verified_login(browser, user)
    return browser


@pytest.fixture
def admin_a(clinic_a: Clinic) -> User:
    user = UserFactory.create(is_staff=True)
    MembershipFactory.create(user=user, clinic=clinic_a, role=Role.ADMIN)
    return user


@pytest.fixture
def operator(db: None) -> User:
    return User.objects.create_superuser("operator", "operator@example.org", "x" * 20)


def member(clinic: Clinic, role: str = Role.CLINICIAN, **fields: Any) -> User:
    return MembershipFactory.create(clinic=clinic, role=role, **fields).user


def patient_form(patient: Patient, **changes: Any) -> dict[str, Any]:
    data = {
        "clinic": patient.clinic_id, "external_id": patient.external_id or "", "given_name": patient.given_name,
        "family_name": patient.family_name, "date_of_birth": patient.date_of_birth.isoformat(),
        "email": patient.email, "phone": patient.phone, "preferred_language": patient.preferred_language,
        "reminders_opt_in": "on", "status": patient.status,
        "assigned_clinician": patient.assigned_clinician_id or "", "intake_date": patient.intake_date.isoformat(),
        "discharge_date": "",
    }  # fmt: skip
    data.update(changes)
    return data


def form_errors(response: Any) -> dict[str, Any]:
    form = response.context["adminform"].form
    return dict(form.errors)


# -- the patient's clinician -------------------------------------------------------------------------


def test_a_clinic_admin_cannot_save_another_clinics_user_as_a_patients_clinician(
    admin_a: User, clinic_a: Clinic, clinic_b: Clinic
) -> None:
    patient = PatientFactory.create(clinic=clinic_a)
    theirs = member(clinic_b)
    response = signed_in(admin_a).post(
        f"/admin/clinic/patient/{patient.pk}/change/", patient_form(patient, assigned_clinician=theirs.pk)
    )
    assert response.status_code == 200
    assert set(form_errors(response)) == {"assigned_clinician"}
    patient.refresh_from_db()
    assert patient.assigned_clinician_id is None


@pytest.mark.parametrize("kind", ["other clinic", "front desk", "former member"])
def test_not_even_an_operator_can_make_an_outsider_a_patients_clinician(
    operator: User, clinic_a: Clinic, clinic_b: Clinic, kind: str
) -> None:
    patient = PatientFactory.create(clinic=clinic_a)
    outsider = {
        "other clinic": lambda: member(clinic_b),
        "front desk": lambda: member(clinic_a, Role.FRONT_DESK),
        "former member": lambda: member(clinic_a, is_active=False),
    }[kind]()
    response = signed_in(operator).post(
        f"/admin/clinic/patient/{patient.pk}/change/", patient_form(patient, assigned_clinician=outsider.pk)
    )
    assert response.status_code == 200
    assert set(form_errors(response)) == {"assigned_clinician"}
    patient.refresh_from_db()
    assert patient.assigned_clinician_id is None


def test_a_clinic_admin_assigns_their_own_clinics_clinician(admin_a: User, clinic_a: Clinic) -> None:
    patient = PatientFactory.create(clinic=clinic_a)
    ours = member(clinic_a, Role.CASE_MANAGER)
    response = signed_in(admin_a).post(
        f"/admin/clinic/patient/{patient.pk}/change/", patient_form(patient, assigned_clinician=ours.pk)
    )
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.assigned_clinician_id == ours.pk


def test_every_reference_field_offers_only_the_admins_own_clinics_objects(
    admin_a: User, clinic_a: Clinic, clinic_b: Clinic
) -> None:
    ours, theirs = member(clinic_a), member(clinic_b)
    browser = signed_in(admin_a)
    for url, field in [
        ("/admin/clinic/patient/add/", "assigned_clinician"),
        ("/admin/clinic/patient/add/", "clinic"),
        ("/admin/clinic/staffmembership/add/", "user"),
        ("/admin/clinic/staffmembership/add/", "clinic"),
    ]:
        offered = browser.get(url).context["adminform"].form.fields[field].queryset
        assert offered.filter(pk__in=[ours.pk, clinic_a.pk]).exists(), (url, field)
        assert not offered.filter(pk__in=[theirs.pk, clinic_b.pk]).exists(), (url, field)


# -- adding a membership ---------------------------------------------------------------------------------


def test_the_membership_add_form_refuses_another_clinics_user_posted_by_uuid(
    admin_a: User, clinic_a: Clinic, clinic_b: Clinic
) -> None:
    theirs = member(clinic_b)
    response = signed_in(admin_a).post(
        "/admin/clinic/staffmembership/add/",
        {"user": str(theirs.pk), "clinic": str(clinic_a.pk), "role": Role.CLINICIAN, "is_active": "on"},
    )
    assert response.status_code == 200
    assert set(form_errors(response)) == {"user"}
    assert not StaffMembership.objects.filter(user=theirs, clinic=clinic_a).exists()


def test_the_membership_add_form_refuses_another_clinic(admin_a: User, clinic_a: Clinic, clinic_b: Clinic) -> None:
    ours = member(clinic_a)
    response = signed_in(admin_a).post(
        "/admin/clinic/staffmembership/add/",
        {"user": str(ours.pk), "clinic": str(clinic_b.pk), "role": Role.CLINICIAN, "is_active": "on"},
    )
    assert response.status_code == 200
    assert set(form_errors(response)) == {"clinic"}
    assert not StaffMembership.objects.filter(user=ours, clinic=clinic_b).exists()


# -- ending a membership -----------------------------------------------------------------------------------


def membership_form(membership: StaffMembership, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"role": membership.role}
    if membership.is_active:
        data["is_active"] = "on"
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_deactivating_a_clinician_with_patients_asks_who_takes_them_over(admin_a: User, clinic_a: Clinic) -> None:
    leaving = member(clinic_a)
    successor = member(clinic_a, Role.CASE_MANAGER)
    patients = PatientFactory.create_batch(2, clinic=clinic_a, assigned_clinician=leaving)
    membership = StaffMembership.objects.get(user=leaving, clinic=clinic_a)
    url = f"/admin/clinic/staffmembership/{membership.pk}/change/"
    browser = signed_in(admin_a)

    asked = browser.post(url, membership_form(membership, is_active=None))
    assert asked.status_code == 200
    assert set(form_errors(asked)) == {"reassign_to"}
    membership.refresh_from_db()
    assert membership.is_active

    done = browser.post(url, membership_form(membership, is_active=None, reassign_to=str(successor.pk)))
    assert done.status_code == 302
    membership.refresh_from_db()
    assert not membership.is_active
    handed_over = Patient.objects.filter(pk__in=[p.pk for p in patients]).values_list("assigned_clinician", flat=True)
    assert set(handed_over) == {successor.pk}


def test_a_role_without_patient_care_also_asks_and_can_leave_patients_unassigned(
    admin_a: User, clinic_a: Clinic
) -> None:
    leaving = member(clinic_a)
    patient = PatientFactory.create(clinic=clinic_a, assigned_clinician=leaving)
    membership = StaffMembership.objects.get(user=leaving, clinic=clinic_a)
    url = f"/admin/clinic/staffmembership/{membership.pk}/change/"
    browser = signed_in(admin_a)
    assert set(form_errors(browser.post(url, membership_form(membership, role=Role.FRONT_DESK)))) == {"reassign_to"}
    done = browser.post(url, membership_form(membership, role=Role.FRONT_DESK, unassign_patients="on"))
    assert done.status_code == 302
    membership.refresh_from_db()
    patient.refresh_from_db()
    assert (membership.role, patient.assigned_clinician_id) == (Role.FRONT_DESK, None)


def test_patients_cannot_be_handed_to_another_clinics_clinician(
    admin_a: User, clinic_a: Clinic, clinic_b: Clinic
) -> None:
    leaving = member(clinic_a)
    patient = PatientFactory.create(clinic=clinic_a, assigned_clinician=leaving)
    membership = StaffMembership.objects.get(user=leaving, clinic=clinic_a)
    response = signed_in(admin_a).post(
        f"/admin/clinic/staffmembership/{membership.pk}/change/",
        membership_form(membership, is_active=None, reassign_to=str(member(clinic_b).pk)),
    )
    assert response.status_code == 200
    assert "reassign_to" in form_errors(response)
    patient.refresh_from_db()
    assert patient.assigned_clinician_id == leaving.pk


def test_a_membership_without_patients_is_deactivated_without_questions(admin_a: User, clinic_a: Clinic) -> None:
    membership = MembershipFactory.create(clinic=clinic_a)
    response = signed_in(admin_a).post(
        f"/admin/clinic/staffmembership/{membership.pk}/change/", membership_form(membership, is_active=None)
    )
    assert response.status_code == 302
    membership.refresh_from_db()
    assert not membership.is_active


def test_the_user_pages_membership_rows_refuse_to_strand_patients(operator: User, clinic_a: Clinic) -> None:
    leaving = member(clinic_a)
    patient = PatientFactory.create(clinic=clinic_a, assigned_clinician=leaving)
    membership = StaffMembership.objects.get(user=leaving, clinic=clinic_a)
    browser = signed_in(operator)
    url = f"/admin/clinic/user/{leaving.pk}/change/"
    page = browser.get(url)
    data = {}
    for form in [page.context["adminform"].form, *page.context["inline_admin_formsets"][0].formset.forms]:
        for name, field in form.fields.items():
            value = form.initial.get(name, field.initial)
            if value is None or value is False or name in {"password"}:
                continue
            if isinstance(value, datetime.datetime):  # a split date and time widget
                local = timezone.localtime(value)
                data[f"{form.add_prefix(name)}_0"] = local.date().isoformat()
                data[f"{form.add_prefix(name)}_1"] = local.time().replace(microsecond=0).isoformat()
            else:
                data[form.add_prefix(name)] = value
    management = page.context["inline_admin_formsets"][0].formset.management_form
    data.update({management.add_prefix(key): value for key, value in management.initial.items()})
    del data["memberships-0-is_active"]  # the box unticked
    response = browser.post(url, data)
    assert response.status_code == 200
    assert not response.context["adminform"].form.errors
    (row,) = response.context["inline_admin_formsets"][0].formset.forms
    assert "its own page" in " ".join(row.non_field_errors())
    membership.refresh_from_db()
    patient.refresh_from_db()
    assert membership.is_active
    assert patient.assigned_clinician_id == leaving.pk
