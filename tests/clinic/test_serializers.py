"""The fast list representation is DRF's representation, value for value."""

from __future__ import annotations

import datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from clinic.api.patients import PatientSerializer
from clinic.models import Language, Patient, PatientStatus
from tests.factories import ClinicFactory


class DrfPatientSerializer(serializers.ModelSerializer[Patient]):
    """The same fields, rendered entirely by DRF."""

    assigned_clinician: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Patient
        fields = PatientSerializer.Meta.fields


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
def test_the_fast_representation_equals_drfs(patient: Patient) -> None:
    assert PatientSerializer(patient).data == DrfPatientSerializer(patient).data
