"""A patient's assigned clinician is an active clinician, case manager or admin of the patient's
clinic: the service says so naming the field, the database refuses any write that would break it,
and ending a membership hands its patients over first."""

from __future__ import annotations

import datetime
import importlib
import threading
import time
from collections.abc import Callable
from typing import Any

import pgtrigger
import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from clinic.models import Clinic, Patient, Role, StaffMembership, User
from clinic.services.clinics import membership_deactivate, membership_grant, membership_update
from clinic.services.patients import patient_create, patient_update
from tests.factories import MembershipFactory, PatientFactory

NEW_PATIENT = {"given_name": "Ana", "family_name": "Rivera", "date_of_birth": datetime.date(1988, 4, 2),
               "intake_date": datetime.date(2026, 1, 5)}  # fmt: skip


def member(clinic: Clinic, role: str = Role.CLINICIAN, **fields: Any) -> User:
    return MembershipFactory.create(clinic=clinic, role=role, **fields).user


def membership_of(user: User, clinic: Clinic) -> StaffMembership:
    return StaffMembership.objects.get(user=user, clinic=clinic)


# -- the service ------------------------------------------------------------------------------------


def test_the_service_refuses_another_clinics_clinician_naming_the_field(clinic_a: Clinic, clinic_b: Clinic) -> None:
    theirs = member(clinic_b)
    with pytest.raises(ValidationError) as refused:
        patient_create(clinic=clinic_a, assigned_clinician=theirs, **NEW_PATIENT)
    assert set(refused.value.message_dict) == {"assigned_clinician"}
    assert not Patient.objects.filter(clinic=clinic_a).exists()


@pytest.mark.parametrize(
    ("role", "is_active"),
    [(Role.FRONT_DESK, True), (Role.AUDITOR, True), (Role.CLINICIAN, False)],
)
def test_the_service_refuses_a_non_clinical_or_former_member(clinic_a: Clinic, role: str, is_active: bool) -> None:
    patient = PatientFactory.create(clinic=clinic_a)
    with pytest.raises(ValidationError) as refused:
        patient_update(patient=patient, assigned_clinician=member(clinic_a, role, is_active=is_active))
    assert set(refused.value.message_dict) == {"assigned_clinician"}
    patient.refresh_from_db()
    assert patient.assigned_clinician_id is None


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.CASE_MANAGER, Role.ADMIN])
def test_the_service_accepts_the_clinics_clinical_staff(clinic_a: Clinic, role: str) -> None:
    ours = member(clinic_a, role)
    assert patient_create(clinic=clinic_a, assigned_clinician=ours, **NEW_PATIENT).assigned_clinician == ours


def test_the_patients_api_refuses_a_front_desk_clinician(clinic_a: Clinic, make_client: Callable[..., Any]) -> None:
    ehr = make_client(clinic_a)
    desk = member(clinic_a, Role.FRONT_DESK)
    body = {**{k: str(v) for k, v in NEW_PATIENT.items()}, "assigned_clinician": str(desk.pk)}
    response = ehr.api.post("/api/v1/patients/", body, format="json")
    assert response.status_code == 400
    assert [error["attr"] for error in response.json()["errors"]] == ["assigned_clinician"]


# -- the database ------------------------------------------------------------------------------------


def test_the_database_refuses_another_clinics_clinician_written_around_the_service(
    clinic_a: Clinic, clinic_b: Clinic
) -> None:
    patient = PatientFactory.create(clinic=clinic_a)
    theirs = member(clinic_b)
    with pytest.raises(IntegrityError, match="patient_clinician_is_clinic_care_staff"), transaction.atomic():
        Patient.objects.filter(pk=patient.pk).update(assigned_clinician=theirs)
    with pytest.raises(IntegrityError), transaction.atomic():
        PatientFactory.create(clinic=clinic_a, assigned_clinician=theirs)
    with pytest.raises(IntegrityError), transaction.atomic():
        PatientFactory.create(clinic=clinic_a, assigned_clinician=member(clinic_a, Role.FRONT_DESK))
    patient.refresh_from_db()
    assert patient.assigned_clinician_id is None


def test_the_database_refuses_moving_a_patient_away_from_its_clinicians_clinic(
    clinic_a: Clinic, clinic_b: Clinic
) -> None:
    patient = PatientFactory.create(clinic=clinic_a, assigned_clinician=member(clinic_a))
    with pytest.raises(IntegrityError), transaction.atomic():
        Patient.objects.filter(pk=patient.pk).update(clinic=clinic_b)


@pytest.mark.parametrize(
    "change",
    [
        lambda memberships: memberships.update(is_active=False),
        lambda memberships: memberships.update(role=Role.FRONT_DESK),
        lambda memberships: memberships.delete(),
    ],
    ids=["deactivate", "non-clinical role", "delete"],
)
def test_the_database_refuses_ending_a_membership_that_leaves_patients_assigned(
    clinic_a: Clinic, change: Callable[[Any], Any]
) -> None:
    clinician = member(clinic_a)
    PatientFactory.create(clinic=clinic_a, assigned_clinician=clinician)
    with pytest.raises(IntegrityError, match="patient_clinician_is_clinic_care_staff"), transaction.atomic():
        change(StaffMembership.objects.filter(user=clinician, clinic=clinic_a))
    assert membership_of(clinician, clinic_a).is_active


def test_the_database_lets_a_membership_without_patients_end(clinic_a: Clinic, clinic_b: Clinic) -> None:
    clinician = member(clinic_a)
    MembershipFactory.create(user=clinician, clinic=clinic_b)
    # Their patient in the other clinic does not hold this membership.
    PatientFactory.create(clinic=clinic_b, assigned_clinician=clinician)
    StaffMembership.objects.filter(user=clinician, clinic=clinic_a).update(is_active=False)
    assert not membership_of(clinician, clinic_a).is_active


def test_the_migration_unassigns_patients_of_clinicians_outside_their_clinic(
    clinic_a: Clinic, clinic_b: Clinic
) -> None:
    ours = member(clinic_a)
    kept = PatientFactory.create(clinic=clinic_a, assigned_clinician=ours)
    outsider = PatientFactory.create(clinic=clinic_a)
    former = PatientFactory.create(clinic=clinic_a)
    left = member(clinic_a)
    # Rows as a deployed database may hold them from before the triggers.
    with pgtrigger.ignore(
        "clinic.Patient:assigned_clinician_in_clinic", "clinic.StaffMembership:membership_keeps_assigned_patients"
    ):
        Patient.objects.filter(pk=outsider.pk).update(assigned_clinician=member(clinic_b))
        Patient.objects.filter(pk=former.pk).update(assigned_clinician=left)
        StaffMembership.objects.filter(user=left).update(is_active=False)
    migration = importlib.import_module("clinic.migrations.0009_assigned_clinician_is_clinic_care_staff")
    with connection.cursor() as cursor:
        cursor.execute(migration.UNASSIGN_OUTSIDERS)
    assigned = dict(Patient.objects.filter(clinic=clinic_a).values_list("pk", "assigned_clinician_id"))
    assert assigned == {kept.pk: ours.pk, outsider.pk: None, former.pk: None}


# -- handing patients over when a membership ends ---------------------------------------------------------


def test_deactivating_a_membership_reassigns_its_patients_in_that_clinic_only(
    clinic_a: Clinic, clinic_b: Clinic
) -> None:
    leaving = member(clinic_a)
    MembershipFactory.create(user=leaving, clinic=clinic_b)
    successor = member(clinic_a, Role.CASE_MANAGER)
    ours = PatientFactory.create_batch(3, clinic=clinic_a, assigned_clinician=leaving)
    theirs = PatientFactory.create(clinic=clinic_b, assigned_clinician=leaving)
    membership_deactivate(membership=membership_of(leaving, clinic_a), reassign_to=successor)
    assert not membership_of(leaving, clinic_a).is_active
    assert set(Patient.objects.filter(pk__in=[p.pk for p in ours]).values_list("assigned_clinician_id", flat=True)) == {
        successor.pk
    }
    theirs.refresh_from_db()
    assert theirs.assigned_clinician_id == leaving.pk


def test_deactivating_a_membership_without_a_successor_unassigns_its_patients(clinic_a: Clinic) -> None:
    leaving = member(clinic_a)
    patient = PatientFactory.create(clinic=clinic_a, assigned_clinician=leaving)
    membership_deactivate(membership=membership_of(leaving, clinic_a), reassign_to=None)
    patient.refresh_from_db()
    assert patient.assigned_clinician_id is None
    assert not membership_of(leaving, clinic_a).is_active


def test_ending_a_membership_without_saying_where_the_patients_go_is_refused(clinic_a: Clinic) -> None:
    leaving = member(clinic_a)
    patient = PatientFactory.create(clinic=clinic_a, assigned_clinician=leaving)
    membership = membership_of(leaving, clinic_a)
    with pytest.raises(ValidationError) as refused:
        membership_update(membership=membership, role=Role.FRONT_DESK, is_active=True)
    assert set(refused.value.message_dict) == {"reassign_to"}
    with pytest.raises(ValidationError):
        membership_grant(user=leaving, clinic=clinic_a, role=Role.AUDITOR)
    membership.refresh_from_db()
    patient.refresh_from_db()
    assert (membership.role, membership.is_active, patient.assigned_clinician_id) == (Role.CLINICIAN, True, leaving.pk)


@pytest.mark.parametrize("successor_kind", ["other clinic", "front desk", "former", "themselves"])
def test_patients_are_never_handed_to_someone_outside_the_clinics_clinical_staff(
    clinic_a: Clinic, clinic_b: Clinic, successor_kind: str
) -> None:
    leaving = member(clinic_a)
    patient = PatientFactory.create(clinic=clinic_a, assigned_clinician=leaving)
    successor = {
        "other clinic": lambda: member(clinic_b),
        "front desk": lambda: member(clinic_a, Role.FRONT_DESK),
        "former": lambda: member(clinic_a, is_active=False),
        "themselves": lambda: leaving,
    }[successor_kind]()
    with pytest.raises(ValidationError) as refused:
        membership_deactivate(membership=membership_of(leaving, clinic_a), reassign_to=successor)
    assert set(refused.value.message_dict) == {"reassign_to"}
    patient.refresh_from_db()
    assert patient.assigned_clinician_id == leaving.pk


def test_a_role_change_between_clinical_roles_keeps_the_patients(clinic_a: Clinic) -> None:
    clinician = member(clinic_a)
    patient = PatientFactory.create(clinic=clinic_a, assigned_clinician=clinician)
    membership_grant(user=clinician, clinic=clinic_a, role=Role.CASE_MANAGER)
    patient.refresh_from_db()
    assert patient.assigned_clinician_id == clinician.pk
    assert membership_of(clinician, clinic_a).role == Role.CASE_MANAGER


def test_a_disabled_account_does_not_block_editing_its_patients_other_fields(clinic_a: Clinic) -> None:
    clinician = member(clinic_a)
    patient = PatientFactory.create(clinic=clinic_a, assigned_clinician=clinician)
    User.objects.filter(pk=clinician.pk).update(is_active=False)
    assert patient_update(patient=patient, phone="+1 312-555-0123").phone == "+1 312-555-0123"


# -- a race between an assignment and a deactivation --------------------------------------------------------


def _waiting_on_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return bool(row and row[0] == "Lock")


@pytest.mark.django_db(transaction=True)
def test_a_deactivation_racing_an_assignment_waits_for_it_and_is_refused() -> None:
    """Without the share lock the assignment takes on the membership, each transaction's check
    misses the other's uncommitted write and both commit: a patient assigned to a former member."""
    clinic = Clinic.objects.create(slug="race", name="Race", time_zone="UTC")
    clinician = member(clinic)
    patient = PatientFactory.create(clinic=clinic)
    outcome: dict[str, Any] = {}
    started = threading.Event()

    def deactivate() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                outcome["pid"] = cursor.fetchone()[0]
            started.set()
            with transaction.atomic():
                StaffMembership.objects.filter(user=clinician, clinic=clinic).update(is_active=False)
            outcome["deactivated"] = True
        except IntegrityError as exc:
            outcome["refused"] = str(exc)
        finally:
            connection.close()

    with transaction.atomic():
        Patient.objects.filter(pk=patient.pk).update(assigned_clinician=clinician)
        thread = threading.Thread(target=deactivate)
        thread.start()
        assert started.wait(timeout=30)
        deadline = time.monotonic() + 30
        while not _waiting_on_a_lock(outcome["pid"]) and time.monotonic() < deadline:
            time.sleep(0.01)  # until the deactivation queues behind this transaction
        assert _waiting_on_a_lock(outcome["pid"])
    thread.join(timeout=30)
    assert "patient_clinician_is_clinic_care_staff" in outcome.get("refused", "")
    assert membership_of(clinician, clinic).is_active
    patient.refresh_from_db()
    assert patient.assigned_clinician_id == clinician.pk
