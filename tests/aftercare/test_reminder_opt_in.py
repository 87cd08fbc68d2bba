"""A patient's reminder preferences changed after booking: opting in brings reminders for the
sessions already booked, opting out (or losing the email address, or being discharged) cancels
the pending ones, whichever way the change is made (API, upsert, admin)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.forms.models import model_to_dict
from django.test import Client
from django.utils import timezone

from aftercare.models import AttendanceStatus, GroupMembership, Reminder, ReminderStatus
from clinic.models import Clinic, Patient, Role
from tests.aftercare.factories import AppointmentFactory, GroupSessionFactory, SupportGroupFactory
from tests.conftest import Persona
from tests.factories import MembershipFactory, PatientFactory, UserFactory, verified_login

OFFSETS = [120, 2880]  # the default policy: 2 hours and 48 hours before


@pytest.fixture
def booked(clinic_a: Clinic) -> dict[str, Any]:
    """A patient without reminders, booked into a future appointment and a future group session,
    with a past appointment and a cancelled one besides."""
    patient = PatientFactory.create(clinic=clinic_a, reminders_opt_in=False)
    soon = timezone.now() + datetime.timedelta(days=4)
    appointment = AppointmentFactory.create(patient=patient, starts_at=soon, ends_at=soon + datetime.timedelta(hours=1))
    past = AppointmentFactory.create(patient=patient)
    cancelled = AppointmentFactory.create(
        patient=patient,
        starts_at=soon + datetime.timedelta(days=1),
        ends_at=soon + datetime.timedelta(days=1, hours=1),
        attendance_status=AttendanceStatus.CANCELLED,
    )
    group = SupportGroupFactory.create(clinic=clinic_a)
    GroupMembership.objects.create(group=group, patient=patient, joined_on=timezone.now().date())
    session = GroupSessionFactory.create(
        group=group, starts_at=soon + datetime.timedelta(days=2), ends_at=soon + datetime.timedelta(days=2, hours=1)
    )
    assert not Reminder.objects.filter(patient=patient).exists()
    return {"patient": patient, "appointment": appointment, "past": past, "cancelled": cancelled, "session": session}


def pending(patient: Patient) -> list[tuple[str, int]]:
    rows = Reminder.objects.filter(patient=patient, status=ReminderStatus.PENDING)
    return sorted((str(row.appointment_id or row.group_session_id), row.offset_minutes) for row in rows)


def expected(booked: dict[str, Any]) -> list[tuple[str, int]]:
    return sorted((str(obj.pk), offset) for obj in (booked["appointment"], booked["session"]) for offset in OFFSETS)


def test_opting_in_through_the_api_brings_reminders_for_the_sessions_already_booked(
    ehr_a: Persona, booked: dict[str, Any]
) -> None:
    patient = booked["patient"]
    response = ehr_a.api.patch(f"/api/v1/patients/{patient.pk}/", {"reminders_opt_in": True}, format="json")
    assert response.status_code == 200, response.json()
    assert pending(patient) == expected(booked)
    # Saying it again makes nothing twice.
    ehr_a.api.patch(
        f"/api/v1/patients/{patient.pk}/", {"reminders_opt_in": True, "phone": "+1 555 0100"}, format="json"
    )
    assert pending(patient) == expected(booked)

    response = ehr_a.api.patch(f"/api/v1/patients/{patient.pk}/", {"reminders_opt_in": False}, format="json")
    assert response.status_code == 200
    assert pending(patient) == []
    assert set(Reminder.objects.filter(patient=patient).values_list("status", flat=True)) == {ReminderStatus.CANCELLED}


def test_an_ehr_upsert_that_opts_in_brings_the_reminders_too(ehr_a: Persona, booked: dict[str, Any]) -> None:
    patient = booked["patient"]
    body = {
        "given_name": patient.given_name,
        "family_name": patient.family_name,
        "date_of_birth": patient.date_of_birth.isoformat(),
        "intake_date": patient.intake_date.isoformat(),
        "email": patient.email,
        "reminders_opt_in": True,
    }
    response = ehr_a.api.put(f"/api/v1/patients/?external_id={patient.external_id}", body, format="json")
    assert response.status_code == 200, response.json()
    assert pending(patient) == expected(booked)


def test_a_discharge_cancels_the_pending_reminders(ehr_a: Persona, booked: dict[str, Any]) -> None:
    patient = booked["patient"]
    ehr_a.api.patch(f"/api/v1/patients/{patient.pk}/", {"reminders_opt_in": True}, format="json")
    assert pending(patient)
    response = ehr_a.api.patch(
        f"/api/v1/patients/{patient.pk}/",
        {"status": "discharged", "discharge_date": timezone.now().date().isoformat()},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert pending(patient) == []


def test_opting_in_through_the_admin_brings_the_reminders_too(clinic_a: Clinic, booked: dict[str, Any]) -> None:
    user = UserFactory.create(is_staff=True)
    MembershipFactory.create(user=user, clinic=clinic_a, role=Role.ADMIN)
    browser = Client()
    verified_login(browser, user)
    patient = booked["patient"]
    form = {name: value for name, value in model_to_dict(patient).items() if value is not None}
    form.update(clinic=str(clinic_a.pk), reminders_opt_in="on")
    response = browser.post(f"/admin/clinic/patient/{patient.pk}/change/", form)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    patient.refresh_from_db()
    assert patient.reminders_opt_in
    assert pending(patient) == expected(booked)

    del form["reminders_opt_in"]
    assert browser.post(f"/admin/clinic/patient/{patient.pk}/change/", form).status_code == 302
    assert pending(patient) == []


def test_unsubscribing_from_a_reminders_link_cancels_the_pending_ones(ehr_a: Persona, booked: dict[str, Any]) -> None:
    """The rows used to stay `pending` until dispatch time (the API listed reminders that would
    never go out)."""
    from aftercare.reminders.unsubscribe import unsubscribe_url

    patient = booked["patient"]
    ehr_a.api.patch(f"/api/v1/patients/{patient.pk}/", {"reminders_opt_in": True}, format="json")
    assert pending(patient) == expected(booked)
    link = unsubscribe_url(patient.pk).split("://", 1)[1].split("/", 1)[1]
    assert Client().post(f"/{link}").status_code == 200
    assert pending(patient) == []


def test_joining_a_group_brings_reminders_for_its_sessions_already_booked_and_leaving_cancels_them(
    ehr_a: Persona, clinic_a: Clinic
) -> None:
    patient = PatientFactory.create(clinic=clinic_a, reminders_opt_in=True)
    group = SupportGroupFactory.create(clinic=clinic_a)
    soon = timezone.now() + datetime.timedelta(days=4)
    first, later = (
        GroupSessionFactory.create(group=group, starts_at=start, ends_at=start + datetime.timedelta(hours=1))
        for start in (soon, soon + datetime.timedelta(days=14))
    )
    assert not Reminder.objects.filter(patient=patient).exists()

    response = ehr_a.api.post(f"/api/v1/support-groups/{group.pk}/members/", {"patient": str(patient.pk)})
    assert response.status_code == 201, response.json()
    assert pending(patient) == sorted((str(s.pk), offset) for s in (first, later) for offset in OFFSETS)

    left_on = (soon + datetime.timedelta(days=7)).astimezone(clinic_a.zone).date()
    response = ehr_a.api.post(
        f"/api/v1/support-groups/{group.pk}/members/leave/",
        {"patient": str(patient.pk), "left_on": left_on.isoformat()},
    )
    assert response.status_code == 200, response.json()
    # The session before the last day keeps its reminders; the one after it has none pending.
    assert pending(patient) == sorted((str(first.pk), offset) for offset in OFFSETS)
