"""Retries must not duplicate records: Idempotency-Key on POST, upsert by external_id on PUT."""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from clinic.models import Clinic, IdempotencyKey, Patient
from clinic.services.idempotency import idempotency_keys_purge
from tests.clinic.test_patients_api import LIST, error_attrs, new_patient
from tests.conftest import Persona
from tests.factories import access_token, integration_client

# --- Idempotency-Key ------------------------------------------------------------------------


def test_replaying_a_post_with_the_same_key_returns_the_first_response_and_creates_nothing(ehr_a: Persona) -> None:
    first = ehr_a.api.post(LIST, new_patient(), HTTP_IDEMPOTENCY_KEY="visit-42")
    replay = ehr_a.api.post(LIST, new_patient(), HTTP_IDEMPOTENCY_KEY="visit-42")
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay["Location"] == first["Location"]
    assert replay["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert Patient.objects.count() == 1


def test_the_same_key_with_another_body_is_422(ehr_a: Persona) -> None:
    ehr_a.api.post(LIST, new_patient(), HTTP_IDEMPOTENCY_KEY="visit-42")
    other = ehr_a.api.post(LIST, new_patient(external_id="MRN-200"), HTTP_IDEMPOTENCY_KEY="visit-42")
    assert other.status_code == 422
    assert other.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert Patient.objects.count() == 1


def test_key_order_and_whitespace_in_the_body_do_not_matter(ehr_a: Persona) -> None:
    body = new_patient()
    ehr_a.api.post(LIST, body, HTTP_IDEMPOTENCY_KEY="k1")
    shuffled = dict(reversed(list(body.items())))
    replay = ehr_a.api.post(LIST, shuffled, HTTP_IDEMPOTENCY_KEY="k1")
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"


def test_keys_belong_to_one_caller(clinic_a: Clinic, ehr_a: Persona, make_client: Callable[..., Persona]) -> None:
    other_client = make_client(clinic_a)
    assert ehr_a.api.post(LIST, new_patient(), HTTP_IDEMPOTENCY_KEY="shared").status_code == 201
    response = other_client.api.post(LIST, new_patient(external_id="MRN-300"), HTTP_IDEMPOTENCY_KEY="shared")
    assert response.status_code == 201
    assert not response.has_header("Idempotent-Replayed")
    assert Patient.objects.count() == 2


def test_a_rejected_request_does_not_use_up_its_key(ehr_a: Persona) -> None:
    bad = ehr_a.api.post(LIST, new_patient(date_of_birth="soon"), HTTP_IDEMPOTENCY_KEY="k2")
    assert bad.status_code == 400
    assert not IdempotencyKey.objects.exists()
    good = ehr_a.api.post(LIST, new_patient(), HTTP_IDEMPOTENCY_KEY="k2")
    assert good.status_code == 201


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there"])
def test_a_malformed_key_is_400_naming_the_header(ehr_a: Persona, key: str) -> None:
    response = ehr_a.api.post(LIST, new_patient(), HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400
    assert error_attrs(response) == {"Idempotency-Key"}
    assert Patient.objects.count() == 0


def test_a_key_expires_after_its_ttl(ehr_a: Persona, settings: Any) -> None:
    ehr_a.api.post(LIST, new_patient(), HTTP_IDEMPOTENCY_KEY="old")
    IdempotencyKey.objects.update(created_at=timezone.now() - datetime.timedelta(hours=25))
    again = ehr_a.api.post(LIST, new_patient(external_id="MRN-400"), HTTP_IDEMPOTENCY_KEY="old")
    assert again.status_code == 201
    assert Patient.objects.count() == 2


def test_the_purge_deletes_only_expired_keys(ehr_a: Persona) -> None:
    ehr_a.api.post(LIST, new_patient(), HTTP_IDEMPOTENCY_KEY="fresh")
    ehr_a.api.post(LIST, new_patient(external_id="MRN-2"), HTTP_IDEMPOTENCY_KEY="stale")
    IdempotencyKey.objects.filter(key="stale").update(created_at=timezone.now() - datetime.timedelta(hours=30))
    assert idempotency_keys_purge() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]


def _race(requests: list[Callable[[], Any]]) -> list[Any]:
    """Run requests at once on their own threads (each with its own database connection)."""
    barrier = threading.Barrier(len(requests))
    results: list[Any] = [None] * len(requests)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = requests[index]()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@pytest.mark.django_db(transaction=True)
def test_two_retries_racing_with_one_key_create_one_patient() -> None:
    clinic = Clinic.objects.create(slug="race", name="Race", time_zone="UTC")
    token = access_token(integration_client(clinic, ["patients:write", "patients:read"]))

    def post() -> Any:
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return api.post(LIST, new_patient(), HTTP_IDEMPOTENCY_KEY="race-1")

    responses = _race([post, post, post])
    assert [r.status_code for r in responses] == [201, 201, 201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert Patient.objects.count() == 1


# --- Upsert by external_id ------------------------------------------------------------------


def upsert_url(external_id: str) -> str:
    return f"{LIST}?external_id={external_id}"


def upsert_body(**overrides: Any) -> dict[str, Any]:
    return new_patient(**{"external_id": None, **overrides})


def test_two_upserts_with_one_external_id_leave_one_patient(ehr_a: Persona) -> None:
    created = ehr_a.api.put(upsert_url("EHR-7"), upsert_body())
    updated = ehr_a.api.put(upsert_url("EHR-7"), upsert_body(given_name="Anita"))
    assert (created.status_code, updated.status_code) == (201, 200)
    assert created.json()["id"] == updated.json()["id"]
    assert created["Location"].endswith(f"/{created.json()['id']}/")
    patient = Patient.objects.get()
    assert (patient.external_id, patient.given_name) == ("EHR-7", "Anita")


def test_an_upsert_keeps_what_it_leaves_out_and_clears_only_what_it_sends_empty(
    ehr_a: Persona, make_staff: Callable[..., Persona]
) -> None:
    # What the README promises: an upsert does not wipe what it leaves out (the assigned clinician
    # the clinic chose, a patient's choice to stop reminders, a phone the EHR did not send).
    nurse = make_staff(ehr_a.clinic)
    first = upsert_body(phone="+1 555 010 0199", email="first@example.org")
    assert ehr_a.api.put(upsert_url("EHR-7"), first).status_code == 201
    patient = Patient.objects.get()
    Patient.objects.filter(pk=patient.pk).update(assigned_clinician=nurse.user, reminders_opt_in=False)
    second = {
        key: value
        for key, value in upsert_body(given_name="Anita").items()
        if key not in ("phone", "email", "reminders_opt_in")
    }
    assert ehr_a.api.put(upsert_url("EHR-7"), second).status_code == 200
    patient.refresh_from_db()
    assert (patient.given_name, patient.phone, patient.email) == ("Anita", "+1 555 010 0199", "first@example.org")
    assert nurse.user is not None
    assert (patient.assigned_clinician_id, patient.reminders_opt_in) == (nurse.user.pk, False)
    assert ehr_a.api.put(upsert_url("EHR-7"), {**second, "phone": ""}).status_code == 200
    patient.refresh_from_db()
    assert patient.phone == ""


def test_an_upsert_may_repeat_the_external_id_in_the_body(ehr_a: Persona) -> None:
    assert ehr_a.api.put(upsert_url("EHR-7"), new_patient(external_id="EHR-7")).status_code == 201


def test_an_upsert_whose_body_names_another_external_id_is_400(ehr_a: Persona) -> None:
    response = ehr_a.api.put(upsert_url("EHR-7"), new_patient(external_id="EHR-8"))
    assert response.status_code == 400
    assert error_attrs(response) == {"external_id"}
    assert Patient.objects.count() == 0


def test_an_upsert_without_external_id_is_400_naming_it(ehr_a: Persona) -> None:
    response = ehr_a.api.put(LIST, upsert_body())
    assert response.status_code == 400
    assert error_attrs(response) == {"external_id"}


def test_an_upsert_whose_external_id_holds_a_nul_character_is_400_naming_it(ehr_a: Persona) -> None:
    # PostgreSQL text cannot hold NUL: unchecked, it reached the database and answered 500.
    response = ehr_a.api.put(upsert_url("EHR%007"), upsert_body())
    assert response.status_code == 400
    assert error_attrs(response) == {"external_id"}
    assert Patient.objects.count() == 0


def test_an_upsert_never_touches_another_clinics_patient(ehr_a: Persona, ehr_b: Persona) -> None:
    theirs = ehr_b.api.put(upsert_url("EHR-7"), upsert_body(given_name="Bea"))
    mine = ehr_a.api.put(upsert_url("EHR-7"), upsert_body(given_name="Ana"))
    assert theirs.status_code == mine.status_code == 201
    assert theirs.json()["id"] != mine.json()["id"]
    assert Patient.objects.get(pk=theirs.json()["id"]).given_name == "Bea"


def test_an_invalid_upsert_writes_nothing(ehr_a: Persona) -> None:
    assert ehr_a.api.put(upsert_url("EHR-7"), upsert_body()).status_code == 201
    bad = ehr_a.api.put(upsert_url("EHR-7"), upsert_body(date_of_birth="1988-13-01", given_name="Changed"))
    assert bad.status_code == 400
    assert Patient.objects.get().given_name == "Ana"


@pytest.mark.django_db(transaction=True)
def test_concurrent_upserts_of_one_external_id_leave_one_patient() -> None:
    clinic = Clinic.objects.create(slug="race", name="Race", time_zone="UTC")
    token = access_token(integration_client(clinic, ["patients:write", "patients:read"]))

    def put(name: str) -> Callable[[], Any]:
        def call() -> Any:
            api = APIClient()
            api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            return api.put(upsert_url("EHR-RACE"), upsert_body(given_name=name))

        return call

    responses = _race([put("One"), put("Two"), put("Three"), put("Four")])
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201]
    assert Patient.objects.filter(external_id="EHR-RACE").count() == 1
