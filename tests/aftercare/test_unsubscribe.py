"""The unsubscribe link: signed tokens, the page, and the opt-out it performs (and nothing more)."""

from __future__ import annotations

import logging
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.test import Client
from django.urls import include, path

from aftercare.reminders.unsubscribe import (
    patient_id_from_token,
    patient_reminders_opt_out,
    unsubscribe_token,
    unsubscribe_url,
)
from clinic.models import Clinic, Patient
from tests.factories import ClinicFactory, PatientFactory

# Mounted where the project mounts it, without depending on the project's urlconf.
urlpatterns = [path("r/unsubscribe/", include("aftercare.reminders.unsubscribe"))]


@pytest.fixture(autouse=True)
def _urls(settings: Any) -> None:
    settings.ROOT_URLCONF = __name__


@pytest.fixture
def browser() -> Client:
    # CSRF checks on, as in production: the test client skips them unless asked.
    return Client(enforce_csrf_checks=True)


def link(patient: Patient) -> str:
    return urlsplit(unsubscribe_url(patient.pk)).path


def reloaded(patient: Patient) -> Patient:
    return Patient.objects.get(pk=patient.pk)


def page(response: Any) -> str:
    return str(response.content.decode())


def assert_nothing_about(patient: Patient, text: str) -> None:
    for private in (patient.given_name, patient.family_name, patient.email, str(patient.pk), patient.pk.hex):
        assert private not in text


def test_a_token_names_its_patient_and_a_tampered_or_foreign_one_names_nobody() -> None:
    patient_id = uuid.uuid4()
    token = unsubscribe_token(patient_id)
    value, signature = token.split(".")

    assert patient_id_from_token(token) == patient_id
    assert patient_id_from_token(f"{uuid.uuid4().hex}.{signature}") is None
    assert patient_id_from_token(f"{value}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}") is None
    assert patient_id_from_token(signing.Signer(salt="another.purpose", sep=".").sign(patient_id.hex)) is None
    assert patient_id_from_token(signing.Signer(salt="aftercare.reminders.unsubscribe", sep=".").sign("x")) is None
    assert patient_id_from_token("garbage") is None
    assert patient_id_from_token("") is None
    assert patient_id_from_token(token + "x" * 500) is None


def test_the_link_is_absolute_and_built_from_the_public_url(settings: Any) -> None:
    settings.AFTERCARE_PUBLIC_URL = "https://reminders.example.org/"
    patient_id = uuid.uuid4()

    url = unsubscribe_url(patient_id)

    assert url == f"https://reminders.example.org/r/unsubscribe/{unsubscribe_token(patient_id)}/"


def test_get_shows_a_form_with_the_clinics_public_name_and_changes_nothing(browser: Client, db: None) -> None:
    clinic = ClinicFactory.create(name="Lakeside Recovery Unit", display_name="Lakeside Health")
    patient = PatientFactory.create(clinic=clinic)
    before = reloaded(patient)

    response = browser.get(link(patient))

    assert response.status_code == 200
    text = page(response)
    assert '<form method="post">' in text
    assert "Do you want to stop receiving appointment reminders from Lakeside Health?" in text
    assert "Recovery" not in text
    assert_nothing_about(patient, text)
    assert reloaded(patient).reminders_opt_in is True
    assert reloaded(patient).updated_at == before.updated_at
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]


def test_post_opts_the_patient_out_and_a_second_post_says_so_without_changing_anything(
    browser: Client, clinic_a: Clinic
) -> None:
    patient = PatientFactory.create(clinic=clinic_a)

    first = browser.post(link(patient))
    after_first = reloaded(patient)
    second = browser.post(link(patient))

    assert first.status_code == 200
    assert f"You will not receive more reminders from {clinic_a.public_name}." in page(first)
    assert after_first.reminders_opt_in is False
    assert second.status_code == 200
    assert "You are already unsubscribed" in page(second)
    assert reloaded(patient).updated_at == after_first.updated_at
    for response in (first, second):
        assert "<form" not in page(response)
        assert_nothing_about(patient, page(response))


def test_a_one_click_post_from_a_mail_provider_opts_the_patient_out(browser: Client, clinic_a: Clinic) -> None:
    patient = PatientFactory.create(clinic=clinic_a)

    response = browser.post(
        link(patient), data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 200
    assert reloaded(patient).reminders_opt_in is False


def test_a_spanish_speaking_patient_gets_the_pages_in_spanish(browser: Client, clinic_a: Clinic) -> None:
    patient = PatientFactory.create(clinic=clinic_a, preferred_language="es")

    form = browser.get(link(patient))
    done = browser.post(link(patient))
    again = browser.get(link(patient))

    assert "¿Desea dejar de recibir los recordatorios de citas de" in page(form)
    assert "Darme de baja" in page(form)
    assert '<html lang="es">' in page(form)
    assert f"No recibirá más recordatorios de {clinic_a.public_name}." in page(done)
    assert "Ya se había dado de baja" in page(again)
    assert "<form" not in page(again)


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_tampered_token_is_400_with_a_neutral_page_and_changes_nothing(
    browser: Client, clinic_a: Clinic, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    patient = PatientFactory.create(clinic=clinic_a)
    token = unsubscribe_token(patient.pk)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")

    with caplog.at_level(logging.DEBUG):
        response = getattr(browser, method)(f"/r/unsubscribe/{tampered}/")

    assert response.status_code == 400
    assert "This link is not valid" in page(response)
    assert "Este enlace no es válido" in page(response)
    assert clinic_a.public_name not in page(response)
    assert "<form" not in page(response)
    assert_nothing_about(patient, page(response))
    assert reloaded(patient).reminders_opt_in is True
    assert tampered not in caplog.text
    assert patient.pk.hex not in caplog.text


def test_another_method_is_refused_without_logging_the_token(
    browser: Client, clinic_a: Clinic, caplog: pytest.LogCaptureFixture
) -> None:
    patient = PatientFactory.create(clinic=clinic_a)

    with caplog.at_level(logging.DEBUG):
        response = browser.put(link(patient))

    assert response.status_code == 405
    assert unsubscribe_token(patient.pk) not in caplog.text
    assert reloaded(patient).reminders_opt_in is True


def test_a_token_only_ever_affects_its_own_patient(browser: Client, clinic_a: Clinic, clinic_b: Clinic) -> None:
    target = PatientFactory.create(clinic=clinic_b)
    others = [PatientFactory.create(clinic=clinic_a), PatientFactory.create(clinic=clinic_b)]
    before = {other.pk: reloaded(other).updated_at for other in others}

    response = browser.post(link(target))

    assert response.status_code == 200
    assert clinic_b.public_name in page(response)
    assert clinic_a.public_name not in page(response)
    assert reloaded(target).reminders_opt_in is False
    for other in others:
        assert reloaded(other).reminders_opt_in is True
        assert reloaded(other).updated_at == before[other.pk]


def test_a_valid_token_for_a_patient_who_does_not_exist_is_400(browser: Client, db: None) -> None:
    response = browser.post(f"/r/unsubscribe/{unsubscribe_token(uuid.uuid4())}/")

    assert response.status_code == 400


def test_the_opt_out_service_reports_whether_it_changed_anything(clinic_a: Clinic) -> None:
    patient = PatientFactory.create(clinic=clinic_a)
    untouched = PatientFactory.create(clinic=clinic_a, reminders_opt_in=False)
    untouched_at = reloaded(untouched).updated_at

    assert patient_reminders_opt_out(patient=patient) is True
    assert patient.reminders_opt_in is False
    assert reloaded(patient).reminders_opt_in is False
    assert patient_reminders_opt_out(patient=patient) is False
    assert patient_reminders_opt_out(patient=untouched) is False
    assert reloaded(untouched).updated_at == untouched_at
