"""Change history (django-pghistory): every write to a clinical table leaves a row, bulk and raw
ones included, with who made it; the patient's history is readable through the API."""

from __future__ import annotations

import datetime
from typing import Any

import pghistory
import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from aftercare.models import Appointment
from clinic.auth.scopes import SCOPES
from clinic.models import Role
from tests.aftercare.factories import AppointmentFactory, PlanFactory
from tests.conftest import Persona
from tests.factories import PatientFactory


def history(appointment: Appointment) -> QuerySet[Any]:
    rows: QuerySet[Any] = apps.get_model("aftercare", "AppointmentHistory").objects.filter(pgh_obj_id=appointment.pk)
    return rows


def test_a_bulk_update_on_appointments_leaves_history_rows_with_the_actor(db: None) -> None:
    appointments = AppointmentFactory.create_batch(3)
    with pghistory.context(actor="user:42"):
        changed = Appointment.objects.filter(pk__in=[a.pk for a in appointments]).update(location="Room 9")
    assert changed == 3
    for appointment in appointments:
        update = history(appointment).get(pgh_label="update")
        assert update.location == "Room 9"
        assert update.pgh_context.metadata["actor"] == "user:42"


def test_raw_sql_is_recorded_too(db: None) -> None:
    appointment = AppointmentFactory.create()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE aftercare_appointment SET location = 'Annex' WHERE id = %s", [appointment.pk])
    assert history(appointment).filter(pgh_label="update", location="Annex").count() == 1


def test_the_history_cannot_be_rewritten(db: None) -> None:
    AppointmentFactory.create()  # its insert is in the history
    table = apps.get_model("aftercare", "AppointmentHistory")._meta.db_table
    for statement in (f"UPDATE {table} SET location = 'x'", f"DELETE FROM {table}"):  # noqa: S608
        with (
            pytest.raises(DatabaseError, match="Cannot update or delete"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)


def test_an_api_write_is_recorded_with_the_integration_client(ehr_a: Persona) -> None:
    appointment = AppointmentFactory.create(
        patient=PatientFactory.create(clinic=ehr_a.clinic),
        starts_at=timezone.now() + datetime.timedelta(days=2),
    )
    request_id = "4b1c2f7e-5d0a-4c1e-9a57-0f5e7c3d2b19"
    response = ehr_a.api.patch(
        f"/api/v1/appointments/{appointment.pk}/", {"location": "Room 12"}, HTTP_X_REQUEST_ID=request_id
    )
    assert response.status_code == 200, response.json()
    update = history(appointment).get(pgh_label="update")
    metadata = update.pgh_context.metadata
    assert ehr_a.client is not None
    assert metadata["actor"] == f"client:{ehr_a.client.pk}"
    assert metadata["url"] == f"/api/v1/appointments/{appointment.pk}/"
    # The same request id as the response's and the access log's.
    assert metadata["request_id"] == request_id == response["X-Request-ID"]


def test_a_patients_history_lists_changes_to_them_their_plan_and_appointments(ehr_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    plan = PlanFactory.create(patient=patient)
    appointment = AppointmentFactory.create(patient=patient, starts_at=timezone.now() + datetime.timedelta(days=3))
    ehr_a.api.patch(f"/api/v1/appointments/{appointment.pk}/", {"location": "Room 3"})
    response = ehr_a.api.get(f"/api/v1/patients/{patient.pk}/history/")
    assert response.status_code == 200, response.json()
    rows = response.json()["results"]
    seen = {(row["object_type"], row["object_id"], row["change"]) for row in rows}
    assert ("clinic.Patient", str(patient.pk), "insert") in seen
    assert ("aftercare.AftercarePlan", str(plan.pk), "insert") in seen
    assert ("aftercare.Appointment", str(appointment.pk), "update") in seen
    moved = next(row for row in rows if row["change"] == "update" and row["object_id"] == str(appointment.pk))
    assert moved["changes"]["location"][1] == "Room 3"
    assert ehr_a.client is not None
    assert moved["actor"] == f"client:{ehr_a.client.pk}"
    assert [row["at"] for row in rows] == sorted((row["at"] for row in rows), reverse=True)


def test_another_clinics_patient_history_is_404(ehr_a: Persona, ehr_b: Persona) -> None:
    theirs = PatientFactory.create(clinic=ehr_b.clinic)
    assert ehr_a.api.get(f"/api/v1/patients/{theirs.pk}/history/").status_code == 404


def test_the_history_needs_every_clinical_read_scope(ehr_a: Persona, make_client: Any, make_staff: Any) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    url = f"/api/v1/patients/{patient.pk}/history/"
    assert make_client(ehr_a.clinic, [s for s in SCOPES if s != "plans:read"]).api.get(url).status_code == 403
    assert make_staff(ehr_a.clinic, Role.FRONT_DESK).api.get(url).status_code == 403
    assert make_staff(ehr_a.clinic, Role.AUDITOR).api.get(url).status_code == 200
