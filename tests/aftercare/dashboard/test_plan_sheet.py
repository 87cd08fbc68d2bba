"""The printable plan: the patient's own words under headings in their language."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aftercare.dashboard.patients.sheet import STRINGS, TRIGGER_LABELS
from clinic.models import AccessEvent, Role
from tests.aftercare.factories import PlanFactory
from tests.factories import ClinicFactory, PatientFactory

StaffClient = Callable[..., tuple[Any, Any]]


def _url(patient: Any) -> str:
    return f"/patients/{patient.pk}/plan/print/"


def _plan(clinic: Any, language: str) -> Any:
    return PlanFactory.create(
        patient=PatientFactory.create(clinic=clinic, preferred_language=language),
        warning_signs=["Dejo de comer"],
        triggers=[{"category": "stress", "description": "el trabajo"}],
        coping_strategies=["Respirar"],
        daily_routine="Caminar\nLlamar a Ana",
        emergency_plan={
            "contacts": [{"name": "Ana", "relationship": "hermana", "phone": "312-555-0111"}],
            "where_to_go": "Casa de Ana",
            "what_to_do": "Llamar y salir",
        },
        support_persons=[{"name": "Luis", "relationship": "", "phone": "312-555-0112"}],
    )


def test_a_spanish_speaking_patients_plan_prints_in_spanish(db: None, staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create(phone="+1 312-555-0100")
    plan = _plan(clinic, "es")
    client, user = staff_client(clinic, Role.CLINICIAN)
    response = client.get(_url(plan.patient))
    assert response.status_code == 200
    page = response.content.decode()
    assert '<html lang="es">' in page
    for heading in ("Mis señales de alerta", "Mis desencadenantes", "En una emergencia", "A quién llamar", "Adónde ir"):
        assert heading in page, heading
    assert "My warning signs" not in page
    for words in ("Dejo de comer", "Estrés: el trabajo", "Respirar", "Caminar", "Casa de Ana", "Luis"):
        assert words in page, words
    assert "988" in page
    assert "1-800-662-4357" in page
    assert "312-555-0100" in page
    assert "data-print" in page
    assert 'class="no-print' in page
    event = AccessEvent.objects.get(user=user, object_type="dashboard.plan_sheet")
    assert event.action == "view"
    assert event.patient_ids == [plan.patient.pk]


def test_an_english_speaking_patients_plan_prints_in_english(db: None, staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    plan = _plan(clinic, "en")
    client, _ = staff_client(clinic, Role.CASE_MANAGER)
    page = client.get(_url(plan.patient)).content.decode()
    assert '<html lang="en">' in page
    assert "My warning signs" in page
    assert "Stress: el trabajo" in page
    assert "Mis señales de alerta" not in page


def test_both_languages_have_every_heading() -> None:
    assert STRINGS["en"].keys() == STRINGS["es"].keys()
    assert TRIGGER_LABELS["en"].keys() == TRIGGER_LABELS["es"].keys()


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.AUDITOR])
def test_roles_outside_care_may_not_print_the_plan(db: None, staff_client: StaffClient, role: str) -> None:
    clinic = ClinicFactory.create()
    plan = _plan(clinic, "es")
    client, user = staff_client(clinic, role)
    response = client.get(_url(plan.patient))
    assert response.status_code == 403
    assert "Dejo de comer" not in response.content.decode()
    assert AccessEvent.objects.get(user=user, object_type="dashboard.plan_sheet").action == "denied"


def test_another_clinics_plan_sheet_is_a_404_page_and_a_denied_event(db: None, staff_client: StaffClient) -> None:
    plan = _plan(ClinicFactory.create(), "es")
    client, user = staff_client(ClinicFactory.create(), Role.ADMIN)
    response = client.get(_url(plan.patient))
    assert response.status_code == 404
    assert "Dejo de comer" not in response.content.decode()
    assert AccessEvent.objects.get(user=user, object_type="dashboard.plan_sheet").action == "denied"


def test_the_sheet_costs_a_fixed_number_of_queries(
    db: None, staff_client: StaffClient, django_assert_max_num_queries: Any
) -> None:
    clinic = ClinicFactory.create()
    plan = _plan(clinic, "es")
    client, _ = staff_client(clinic, Role.CLINICIAN)
    client.get(_url(plan.patient))
    with django_assert_max_num_queries(9):
        assert client.get(_url(plan.patient)).status_code == 200
