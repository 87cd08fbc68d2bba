"""Flag emails and digests reach active clinical staff of the flag's own clinic only: the assigned
clinician while still an active member, otherwise that clinic's active admins; never a former
member or anyone of another clinic."""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Any

import pgtrigger
import time_machine
from django.core import mail
from django.utils import timezone

from aftercare.models import RiskFlag, RiskRule, Severity
from aftercare.services.digests import digests_send
from aftercare.services.flags import flags_notify
from clinic.models import Clinic, Patient, Role, StaffMembership, User
from clinic.services.clinics import membership_deactivate
from tests.factories import MembershipFactory, PatientFactory


def member(clinic: Clinic, role: str = Role.CLINICIAN, **fields: Any) -> User:
    return MembershipFactory.create(clinic=clinic, role=role, **fields).user


def high_flag(patient: Patient) -> RiskFlag:
    now = timezone.now()
    return RiskFlag.objects.create(
        clinic_id=patient.clinic_id, patient=patient, rule=RiskRule.CONSECUTIVE_MISSED, severity=Severity.HIGH,
        raised_at=now, evidence_updated_at=now,
    )  # fmt: skip


def recipients() -> set[str]:
    return {address for message in mail.outbox for address in message.to}


def test_a_flag_without_a_clinician_emails_only_the_clinics_active_admins(clinic_a: Clinic, clinic_b: Clinic) -> None:
    admin = member(clinic_a, Role.ADMIN)
    member(clinic_a, Role.ADMIN, is_active=False)  # a former admin
    member(clinic_a, Role.ADMIN, user__is_active=False)  # an admin whose account is disabled
    member(clinic_b, Role.ADMIN)
    member(clinic_a, Role.CLINICIAN)  # not this patient's clinician
    flag = high_flag(PatientFactory.create(clinic=clinic_a))
    assert flags_notify(flag_ids=[flag.pk]) == 1
    assert recipients() == {admin.email}


def test_another_clinics_clinician_left_on_a_patient_is_never_emailed(clinic_a: Clinic, clinic_b: Clinic) -> None:
    """The reported leak: clinic B's high flags were emailed to clinic A's clinician saved as the
    clinician of B's patient. Such a row can only predate the database's refusal; the email still
    goes to B's admins."""
    theirs = member(clinic_a)
    admin_b = member(clinic_b, Role.ADMIN)
    patient = PatientFactory.create(clinic=clinic_b)
    with pgtrigger.ignore("clinic.Patient:assigned_clinician_in_clinic"):
        Patient.objects.filter(pk=patient.pk).update(assigned_clinician=theirs)
    flag = high_flag(patient)
    assert flags_notify(flag_ids=[flag.pk]) == 1
    assert recipients() == {admin_b.email}


def test_after_a_clinician_leaves_their_successor_gets_the_flag_email(clinic_a: Clinic) -> None:
    leaving = member(clinic_a)
    successor = member(clinic_a, Role.CASE_MANAGER)
    member(clinic_a, Role.ADMIN)
    patient = PatientFactory.create(clinic=clinic_a, assigned_clinician=leaving)
    membership_deactivate(membership=StaffMembership.objects.get(user=leaving, clinic=clinic_a), reassign_to=successor)
    assert flags_notify(flag_ids=[high_flag(patient).pk]) == 1
    assert recipients() == {successor.email}


def test_the_assigned_clinician_alone_gets_the_email_while_an_active_member(clinic_a: Clinic) -> None:
    clinician = member(clinic_a)
    member(clinic_a, Role.ADMIN)
    flag = high_flag(PatientFactory.create(clinic=clinic_a, assigned_clinician=clinician))
    assert flags_notify(flag_ids=[flag.pk]) == 1
    assert recipients() == {clinician.email}


def test_the_digest_goes_to_the_clinics_active_clinical_staff_only(db: None) -> None:
    chicago = zoneinfo.ZoneInfo("America/Chicago")
    clinic = Clinic.objects.create(slug="lakeside", name="Lakeside", time_zone="America/Chicago")
    other = Clinic.objects.create(slug="riverbend", name="Riverbend", time_zone="America/New_York")
    current = {member(clinic, role) for role in (Role.CLINICIAN, Role.CASE_MANAGER, Role.ADMIN)}
    member(clinic, Role.CLINICIAN, is_active=False)
    member(clinic, Role.FRONT_DESK)
    member(clinic, Role.AUDITOR)
    member(other, Role.CLINICIAN)
    seven = datetime.datetime(2026, 11, 24, 7, 5, tzinfo=chicago)
    with time_machine.travel(seven, tick=False):
        digests_send()
    assert recipients() == {user.email for user in current}
