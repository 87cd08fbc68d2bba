"""Operational endpoints and the guarantees the database itself keeps."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, ProgrammingError, connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from clinic.models import Patient, PatientStatus
from clinic.services.patients import patient_create
from tests.factories import ClinicFactory, PatientFactory


def test_health_reports_the_database_and_broker(db: None) -> None:
    response = APIClient().get("/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def test_health_is_503_when_the_broker_is_unreachable(db: None, settings: Any) -> None:
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    settings.AFTERCARE_HEALTH_BROKER_TIMEOUT = 0.5
    response = APIClient().get("/health/")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "broker": "failing"}
    assert "127.0.0.1" not in response.content.decode()


def test_health_is_not_redirected_to_https(db: None, settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    assert APIClient().get("/health/").status_code == 200
    assert APIClient().get("/api/schema/").status_code == 301


def test_a_patient_row_cannot_be_deleted_even_in_sql(db: None) -> None:
    patient = PatientFactory.create()
    with pytest.raises(ProgrammingError, match="Cannot delete"), transaction.atomic():
        Patient.objects.filter(pk=patient.pk).delete()
    with pytest.raises(ProgrammingError, match="Cannot delete"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM clinic_patient WHERE id = %s", [patient.pk])
    assert Patient.objects.filter(pk=patient.pk).exists()


def test_updated_at_moves_on_raw_sql_updates(db: None) -> None:
    patient = PatientFactory.create()
    Patient.objects.filter(pk=patient.pk).update(updated_at=timezone.now() - datetime.timedelta(days=1))
    before = Patient.objects.get(pk=patient.pk).updated_at
    with connection.cursor() as cursor:
        cursor.execute("UPDATE clinic_patient SET phone = '555 0100 99' WHERE id = %s", [patient.pk])
    assert Patient.objects.get(pk=patient.pk).updated_at > before


def test_the_database_refuses_a_discharged_patient_without_a_date(db: None) -> None:
    patient = PatientFactory.create()
    with pytest.raises(IntegrityError), transaction.atomic():
        Patient.objects.filter(pk=patient.pk).update(status=PatientStatus.DISCHARGED)


def test_the_service_names_the_field_for_a_discharge_before_intake(db: None) -> None:
    with pytest.raises(ValidationError) as caught:
        patient_create(
            clinic=ClinicFactory.create(),
            given_name="A",
            family_name="B",
            date_of_birth=datetime.date(1990, 1, 1),
            intake_date=datetime.date(2026, 5, 1),
            discharge_date=datetime.date(2026, 4, 1),
        )
    assert set(caught.value.message_dict) == {"discharge_date"}


def test_services_refuse_fields_they_do_not_own(db: None) -> None:
    with pytest.raises(ValidationError) as caught:
        patient_create(clinic=ClinicFactory.create(), given_name="A", created_at=timezone.now())
    assert "created_at" in caught.value.message_dict


def test_a_patients_string_form_carries_no_name(db: None) -> None:
    patient = PatientFactory.create(given_name="Zebulon", family_name="Quaxley")
    assert "Zebulon" not in str(patient)
    assert "Quaxley" not in str(patient)
    assert "Zebulon" not in repr(patient)


def test_a_clinic_time_zone_must_be_an_iana_zone(db: None) -> None:
    clinic = ClinicFactory.build(time_zone="Central Time")
    with pytest.raises(ValidationError) as caught:
        clinic.full_clean()
    assert "time_zone" in caught.value.message_dict
