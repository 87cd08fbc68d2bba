"""The fast list representation renders exactly the JSON DRF renders, from a model or a row."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from aftercare.api.appointments import AppointmentSerializer
from aftercare.models import Appointment
from clinic.api.patients import PatientSerializer
from clinic.models import Language, Patient, PatientStatus
from tests.aftercare.factories import AppointmentFactory
from tests.factories import ClinicFactory

render = JSONRenderer().render


def drf_twin(serializer: type[serializers.ModelSerializer[Any]]) -> type[serializers.ModelSerializer[Any]]:
    """The same model and fields, every one rendered by DRF itself."""
    meta = serializer.Meta
    related: dict[str, serializers.Field[Any, Any, Any, Any]] = {
        name: serializers.PrimaryKeyRelatedField(read_only=True)
        for name, field in serializer().fields.items()
        if isinstance(field, serializers.PrimaryKeyRelatedField)
    }
    return type(
        "Twin",
        (serializers.ModelSerializer,),
        {**related, "Meta": type("Meta", (), {"model": meta.model, "fields": meta.fields})},
    )


# The years a row can hold; outside them DRF itself refuses to render (overflow).
# Hypothesis takes naive bounds and attaches the zones itself.
EARLIEST = datetime.datetime(1900, 1, 1)  # noqa: DTZ001
LATEST = datetime.datetime(2200, 1, 1)  # noqa: DTZ001


def _patient(**values: Any) -> Patient:
    return Patient(clinic=ClinicFactory.build(), **values)


patients = st.builds(
    _patient,
    external_id=st.one_of(st.none(), st.text(min_size=1, max_size=64)),
    given_name=st.text(max_size=100),
    family_name=st.text(max_size=100),
    date_of_birth=st.dates(),
    email=st.emails(),
    phone=st.text(max_size=32),
    preferred_language=st.sampled_from(Language.values),
    reminders_opt_in=st.booleans(),
    status=st.sampled_from(PatientStatus.values),
    assigned_clinician_id=st.one_of(st.none(), st.uuids()),
    intake_date=st.dates(),
    discharge_date=st.one_of(st.none(), st.dates()),
    created_at=st.datetimes(min_value=EARLIEST, max_value=LATEST, timezones=st.timezones()),
    updated_at=st.datetimes(min_value=EARLIEST, max_value=LATEST, timezones=st.just(datetime.UTC)),
)


@settings(max_examples=300)
@given(patient=patients)
def test_a_patient_renders_as_drf_renders_it(patient: Patient) -> None:
    assert render(PatientSerializer(patient).data) == render(drf_twin(PatientSerializer)(patient).data)


def test_appointment_rows_render_as_drf_renders_the_models(db: None) -> None:
    AppointmentFactory.create_batch(5, location="Room 2", telehealth_url="https://meet.example.org/x")
    AppointmentFactory.create(attendance_status="missed")
    columns = AppointmentSerializer.plain_columns()
    assert columns is not None
    rows = list(Appointment.objects.order_by("id").values(*columns))
    models = list(Appointment.objects.order_by("id"))
    fast = render(AppointmentSerializer(rows, many=True).data)
    assert fast == render(drf_twin(AppointmentSerializer)(models, many=True).data)
    assert fast == render(AppointmentSerializer(models, many=True).data)


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        # Found by schemathesis: DRF turned the number into "-10504509795" and saved it.
        (
            "/api/v1/support-groups/",
            {"name": "Tuesday group", "kind": "peer", "facilitator": -10504509795},
            "facilitator",
        ),
        ("/api/v1/patients/", {"given_name": 42, "family_name": "Lee", "date_of_birth": "1980-01-01"}, "given_name"),
    ],
)
def test_a_number_where_text_belongs_is_400_naming_the_field(
    ehr_a: Any, url: str, body: dict[str, Any], field: str
) -> None:
    response = ehr_a.api.post(url, body)
    assert response.status_code == 400, response.json()
    assert {(error["attr"], error["code"]) for error in response.json()["errors"]} >= {(field, "invalid")}


@pytest.mark.parametrize("microsecond", [0, 1, 500000, 999999])
def test_a_list_page_writes_instants_as_drf_does(ehr_a: Any, microsecond: int) -> None:
    """The page's instants come from PostgreSQL as text (UtcIsoInstant): the same text DRF writes."""
    from tests.factories import PatientFactory

    patient = PatientFactory.create(clinic=ehr_a.clinic)
    at = datetime.datetime(2026, 3, 8, 8, 30, 5, microsecond, tzinfo=datetime.UTC)
    AppointmentFactory.create(
        clinic=ehr_a.clinic, patient=patient, starts_at=at, ends_at=at + datetime.timedelta(minutes=50),
        attendance_status="attended", attendance_recorded_at=None,
    )  # fmt: skip
    AppointmentFactory.create(clinic=ehr_a.clinic, patient=patient, attendance_status="missed",
                              attendance_recorded_at=at - datetime.timedelta(days=400))  # fmt: skip
    page = ehr_a.api.get("/api/v1/appointments/", {"page_size": 50}).json()["results"]
    models = {str(m.pk): m for m in Appointment.objects.all()}
    for row in page:
        assert row == json.loads(render(drf_twin(AppointmentSerializer)(models[row["id"]]).data))
    assert any(row["starts_at"] == at.isoformat().replace("+00:00", "Z") for row in page)
