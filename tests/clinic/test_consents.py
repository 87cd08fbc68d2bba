"""Consents and disclosures (42 CFR Part 2 §2.31, §2.32): recording and revoking a consent, releases
that check it under a lock and write nothing when refused, the accounting of disclosures, tenancy,
roles and scopes, and tables the database keeps as written."""

from __future__ import annotations

import datetime
import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.test import Client
from django.utils import timezone

from aftercare.models import ActivityKind, FlagStatus, Medication, RiskFlag, RiskRule, Severity
from clinic.auth.caller import Caller
from clinic.auth.scopes import ROLE_SCOPES, SCOPES
from clinic.models import (
    REDISCLOSURE_NOTICE,
    Clinic,
    Consent,
    Disclosure,
    DisclosureCategory,
    Patient,
    Role,
)
from clinic.releases import Released, release_provider_register
from clinic.services.consents import consent_record, consent_revoke, disclosure_release
from tests.aftercare.factories import ActivityFactory, AppointmentFactory, PlanFactory
from tests.conftest import Persona
from tests.factories import (
    ClinicFactory,
    MembershipFactory,
    PatientFactory,
    UserFactory,
    integration_client,
    verified_login,
)

RECIPIENT = "Cook County Adult Probation"


def consents(patient: Patient | str) -> str:
    return f"/api/v1/patients/{getattr(patient, 'pk', patient)}/consents/"


def disclosures(patient: Patient | str) -> str:
    return f"/api/v1/patients/{getattr(patient, 'pk', patient)}/disclosures/"


def new_consent(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "recipient_name": RECIPIENT,
        "recipient_kind": "criminal_justice",
        "purpose": "Report attendance to the supervising officer",
        "categories": ["enrollment", "attendance"],
        "expires_on": str(timezone.localdate() + datetime.timedelta(days=180)),
        "signed_on": str(timezone.localdate() - datetime.timedelta(days=7)),
    }
    body.update(overrides)
    return body


def record(persona: Persona, patient: Patient, /, **overrides: Any) -> dict[str, Any]:
    response = persona.api.post(consents(patient), new_consent(**overrides))
    assert response.status_code == 201, response.json()
    result: dict[str, Any] = response.json()
    return result


def release(persona: Persona, patient: Patient, consent_id: str, /, **overrides: Any) -> Any:
    body = {"consent": consent_id, "recipient_name": RECIPIENT, "categories": ["attendance"]}
    body.update(overrides)
    return persona.api.post(disclosures(patient), body)


def error_attrs(response: Any) -> set[str | None]:
    return {error["attr"] for error in response.json()["errors"]}


def carries_no_phi(response: Any, patient: Patient) -> bool:
    text = response.content.decode()
    return all(
        value not in text
        for value in (patient.given_name, patient.family_name, patient.email, f"{patient.date_of_birth:%Y-%m-%d}")
    )


def caller_of(persona: Persona) -> Caller:
    assert persona.client is not None
    return Caller(clinic=persona.clinic, scopes=frozenset(persona.client.scopes), client=persona.client)


@pytest.fixture
def patient_a(clinic_a: Clinic) -> Patient:
    return PatientFactory.create(clinic=clinic_a)


# --- a consent's life -----------------------------------------------------------------------


def test_a_clinician_records_reads_lists_and_revokes_a_consent(clinician_a: Persona, patient_a: Patient) -> None:
    created = clinician_a.api.post(consents(patient_a), new_consent())
    assert created.status_code == 201, created.json()
    consent = created.json()
    assert created["Location"] == f"{consents(patient_a)}{consent['id']}/"
    assert consent["state"] == "active"
    assert consent["categories"] == ["attendance", "enrollment"]
    assert clinician_a.user is not None
    assert consent["recorded_by"] == f"user:{clinician_a.user.pk}"
    assert consent["revoked_at"] is None

    assert clinician_a.api.get(created["Location"]).json()["recipient_name"] == RECIPIENT
    assert [row["id"] for row in clinician_a.api.get(consents(patient_a)).json()["results"]] == [consent["id"]]

    revoked = clinician_a.api.post(f"{created['Location']}revoke/", {"reason": "Patient withdrew consent"})
    assert revoked.status_code == 200, revoked.json()
    assert revoked.json()["state"] == "revoked"
    assert revoked.json()["revoked_by"] == f"user:{clinician_a.user.pk}"
    assert revoked.json()["revocation_reason"] == "Patient withdrew consent"


def test_revoking_twice_changes_nothing_the_first_revocation_stands(ehr_a: Persona, patient_a: Patient) -> None:
    consent = record(ehr_a, patient_a)
    url = f"{consents(patient_a)}{consent['id']}/revoke/"
    first = ehr_a.api.post(url, {"reason": "Patient withdrew consent"})
    again = ehr_a.api.post(url, {"reason": "Entered twice"})
    assert again.status_code == 200
    assert again.json()["revoked_at"] == first.json()["revoked_at"]
    assert again.json()["revocation_reason"] == "Patient withdrew consent"
    assert Consent.objects.get(pk=consent["id"]).revocation_reason == "Patient withdrew consent"


@pytest.mark.parametrize("body", [{}, {"reason": "   "}])
def test_revoking_needs_a_reason(ehr_a: Persona, patient_a: Patient, body: dict[str, str]) -> None:
    consent = record(ehr_a, patient_a)
    response = ehr_a.api.post(f"{consents(patient_a)}{consent['id']}/revoke/", body)
    assert response.status_code == 400
    assert error_attrs(response) == {"reason"}
    assert Consent.objects.get(pk=consent["id"]).revoked_at is None


def test_a_consent_needs_an_expiry_date_or_an_expiry_event(ehr_a: Persona, patient_a: Patient) -> None:
    neither = ehr_a.api.post(consents(patient_a), new_consent(expires_on=None))
    assert neither.status_code == 400
    assert error_attrs(neither) == {"expires_on"}
    event = record(ehr_a, patient_a, expires_on=None, expiry_event="End of probation")
    assert event["expiry_event"] == "End of probation"
    assert event["expires_on"] is None
    # The database refuses one without either, whoever writes it.
    stored = Consent.objects.get(pk=event["id"])
    stored.pk, stored.expiry_event = uuid.uuid4(), ""
    with pytest.raises(IntegrityError, match="consent_has_expiry"), transaction.atomic():
        stored.save(force_insert=True)


def test_all_is_stored_as_every_category_of_the_day_and_needs_an_expiry_date(
    ehr_a: Persona, patient_a: Patient
) -> None:
    open_ended = ehr_a.api.post(
        consents(patient_a), new_consent(categories=["all"], expires_on=None, expiry_event="When I say so")
    )
    assert open_ended.status_code == 400
    assert error_attrs(open_ended) == {"expires_on"}
    everything = record(ehr_a, patient_a, categories=["all"])
    assert everything["categories"] == sorted(DisclosureCategory.values)
    assert Consent.objects.get(pk=everything["id"]).categories == sorted(DisclosureCategory.values)


def test_validation_errors_name_each_field(ehr_a: Persona, patient_a: Patient) -> None:
    empty = ehr_a.api.post(consents(patient_a), {})
    assert error_attrs(empty) == {"recipient_name", "purpose", "categories", "signed_on"}
    unknown = ehr_a.api.post(consents(patient_a), new_consent(categories=["attendance", "diagnosis"]))
    assert error_attrs(unknown) == {"categories.1"}
    past = ehr_a.api.post(consents(patient_a), new_consent(expires_on="2001-01-01"))
    assert error_attrs(past) == {"expires_on"}
    future = str(timezone.localdate() + datetime.timedelta(days=3))
    assert error_attrs(ehr_a.api.post(consents(patient_a), new_consent(signed_on=future))) == {"signed_on"}
    blank = ehr_a.api.post(consents(patient_a), new_consent(recipient_name="  ", purpose=7))
    assert error_attrs(blank) == {"recipient_name", "purpose"}
    release_body = ehr_a.api.post(disclosures(patient_a), {"consent": "not-an-id", "categories": []})
    assert error_attrs(release_body) == {"consent", "recipient_name", "categories"}
    assert not Consent.objects.exists()
    assert not Disclosure.objects.exists()


def test_a_body_cannot_set_the_clinic_the_author_the_revocation_or_the_notice(
    ehr_a: Persona, ehr_b: Persona, patient_a: Patient
) -> None:
    other = PatientFactory.create(clinic=ehr_a.clinic)
    # `clinic` is no field of a consent: refused by name. The consent's read-only fields are ignored.
    refused = ehr_a.api.post(consents(patient_a), new_consent(clinic=str(ehr_b.clinic.pk)))
    assert (refused.status_code, error_attrs(refused)) == (400, {"clinic"})
    assert refused.json()["errors"][0]["code"] == "unknown_field"
    assert not Consent.objects.exists()
    consent = record(
        ehr_a,
        patient_a,
        patient=str(other.pk),
        recorded_by="user:00000000-0000-0000-0000-000000000001",
        recorded_at="2001-01-01T00:00:00Z",
        revoked_at="2001-01-01T00:00:00Z",
        revoked_by="user:00000000-0000-0000-0000-000000000001",
        revocation_reason="forged",
    )
    stored = Consent.objects.get(pk=consent["id"])
    assert (stored.clinic_id, stored.patient_id) == (ehr_a.clinic.pk, patient_a.pk)
    assert ehr_a.client is not None
    assert stored.recorded_by == f"client:{ehr_a.client.pk}"
    assert stored.recorded_at.year > 2001
    assert (stored.revoked_at, stored.revoked_by, stored.revocation_reason) == (None, "", "")

    response = release(
        ehr_a, patient_a, consent["id"], notice="Do what you like", released_by="user:x", content_sha256="0" * 64
    )
    assert response.status_code == 201, response.json()
    disclosure = Disclosure.objects.get()
    assert disclosure.notice == REDISCLOSURE_NOTICE
    assert disclosure.released_by == f"client:{ehr_a.client.pk}"
    assert disclosure.content_sha256 != "0" * 64


# --- releases ---------------------------------------------------------------------------------


def test_a_release_records_one_disclosure_with_the_notice_and_sends_only_the_consented_categories(
    clinician_a: Persona, patient_a: Patient
) -> None:
    AppointmentFactory.create(patient=patient_a, kind=ActivityKind.INDIVIDUAL_THERAPY)
    AppointmentFactory.create(patient=patient_a, kind=ActivityKind.MEDICATION)
    plan = PlanFactory.create(patient=patient_a, warning_signs=["Calling old friends from the bar"])
    ActivityFactory.create(plan=plan, kind=ActivityKind.MEDICATION, medication=Medication.BUPRENORPHINE)
    consent = record(clinician_a, patient_a, categories=["demographics", "enrollment", "attendance"])

    response = release(clinician_a, patient_a, consent["id"], categories=["demographics", "attendance"])
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["notice"] == REDISCLOSURE_NOTICE
    assert set(body["data"]) == {"demographics", "attendance"}
    assert body["data"]["demographics"]["family_name"] == patient_a.family_name
    assert [row["kind"] for row in body["data"]["attendance"]["appointments"]] == ["individual_therapy"]
    text = response.content.decode()
    for withheld in ("Calling old friends", "buprenorphine", "medication", "intake_date"):
        assert withheld not in text

    disclosure = Disclosure.objects.get()
    assert body["disclosure"]["id"] == str(disclosure.pk)
    assert response["Location"] == f"{disclosures(patient_a)}{disclosure.pk}/"
    assert disclosure.notice == REDISCLOSURE_NOTICE
    assert disclosure.categories == ["attendance", "demographics"]
    assert (disclosure.recipient_name, disclosure.consent_id) == (RECIPIENT, uuid.UUID(consent["id"]))
    assert disclosure.purpose == consent["purpose"]
    assert clinician_a.user is not None
    assert disclosure.released_by == f"user:{clinician_a.user.pk}"
    # The recipient can check what they got against the accounting.
    canonical = json.dumps(body["data"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(canonical.encode()).hexdigest() == disclosure.content_sha256


def test_every_category_releases_what_it_names_and_medication_only_when_released(
    ehr_a: Persona, patient_a: Patient
) -> None:
    AppointmentFactory.create(patient=patient_a, kind=ActivityKind.MEDICATION)
    plan = PlanFactory.create(patient=patient_a, goals="Back at work by spring")
    ActivityFactory.create(plan=plan, kind=ActivityKind.GROUP_THERAPY)
    ActivityFactory.create(
        plan=plan, kind=ActivityKind.MEDICATION, medication=Medication.METHADONE, dose_schedule="Daily, observed"
    )
    RiskFlag.objects.create(
        clinic=ehr_a.clinic,
        patient=patient_a,
        rule=RiskRule.NO_CONTACT,
        severity=Severity.MEDIUM,
        status=FlagStatus.OPEN,
        raised_at=timezone.now(),
        evidence_updated_at=timezone.now(),
    )
    consent = record(ehr_a, patient_a, categories=["all"])

    # `no_contact` is drawn from enrollment (active patients, from intake) as well as attendance.
    categories = ["plan", "attendance", "enrollment", "risk_flags"]
    without = release(ehr_a, patient_a, consent["id"], categories=categories).json()["data"]
    assert without["plan"]["goals"] == "Back at work by spring"
    assert [activity["kind"] for activity in without["plan"]["activities"]] == ["group_therapy"]
    assert without["attendance"]["appointments"] == []
    assert [(flag["rule"], flag["severity"]) for flag in without["risk_flags"]] == [("no_contact", "medium")]

    every = release(ehr_a, patient_a, consent["id"], categories=sorted(DisclosureCategory.values)).json()["data"]
    assert set(every) == set(DisclosureCategory.values)
    assert [row["medication"] for row in every["medication"]["activities"]] == ["methadone"]
    assert every["medication"]["activities"][0]["dose_schedule"] == "Daily, observed"
    assert every["medication"]["events"] == []
    assert [row["kind"] for row in every["attendance"]["appointments"]] == ["medication"]
    assert every["enrollment"]["intake_date"] == str(patient_a.intake_date)
    assert Disclosure.objects.count() == 2


def test_a_revoked_consent_blocks_a_release_and_nothing_is_written(ehr_a: Persona, patient_a: Patient) -> None:
    consent = record(ehr_a, patient_a)
    ehr_a.api.post(f"{consents(patient_a)}{consent['id']}/revoke/", {"reason": "Patient withdrew consent"})
    response = release(ehr_a, patient_a, consent["id"])
    assert response.status_code == 400
    assert error_attrs(response) == {"consent"}
    assert carries_no_phi(response, patient_a)
    assert not Disclosure.objects.exists()


def test_an_expired_consent_blocks_a_release(ehr_a: Persona, patient_a: Patient) -> None:
    # The consent holds through its last day of the clinic's calendar, to the minute before local midnight.
    zone = ehr_a.clinic.zone
    signed = timezone.localdate(timezone=zone) - datetime.timedelta(days=30)
    last_day = signed + datetime.timedelta(days=10)
    expires = datetime.datetime.combine(last_day + datetime.timedelta(days=1), datetime.time(0), tzinfo=zone)
    with time_machine.travel(datetime.datetime.combine(signed, datetime.time(12), tzinfo=zone), tick=False):
        consent = record(ehr_a, patient_a, expires_on=str(last_day), signed_on=str(signed))
    assert consent["expires_on"] == str(last_day)
    with time_machine.travel(expires - datetime.timedelta(minutes=1), tick=False):
        assert release(ehr_a, patient_a, consent["id"]).status_code == 201
        assert ehr_a.api.get(f"{consents(patient_a)}{consent['id']}/").json()["state"] == "active"
    with time_machine.travel(expires, tick=False):
        at_expiry = release(ehr_a, patient_a, consent["id"])
        assert ehr_a.api.get(f"{consents(patient_a)}{consent['id']}/").json()["state"] == "expired"
    assert at_expiry.status_code == 400
    assert error_attrs(at_expiry) == {"consent"}
    later = release(ehr_a, patient_a, consent["id"])
    assert error_attrs(later) == {"consent"}
    assert Disclosure.objects.count() == 1


def test_a_category_outside_the_consent_is_refused_naming_categories(ehr_a: Persona, patient_a: Patient) -> None:
    consent = record(ehr_a, patient_a, categories=["enrollment"])
    response = release(ehr_a, patient_a, consent["id"], categories=["enrollment", "plan"])
    assert response.status_code == 400
    assert error_attrs(response) == {"categories"}
    assert "plan" in response.json()["errors"][0]["detail"]
    assert carries_no_phi(response, patient_a)
    assert not Disclosure.objects.exists()


def test_a_release_to_another_recipient_is_refused(ehr_a: Persona, patient_a: Patient) -> None:
    consent = record(ehr_a, patient_a)
    response = release(ehr_a, patient_a, consent["id"], recipient_name="Acme Staffing Inc.")
    assert response.status_code == 400
    assert error_attrs(response) == {"recipient_name"}
    assert not Disclosure.objects.exists()
    # The same recipient written with other spacing or case is the same recipient.
    same = release(ehr_a, patient_a, consent["id"], recipient_name="  cook county   ADULT probation ")
    assert same.status_code == 201
    assert Disclosure.objects.get().recipient_name == RECIPIENT


def test_another_patients_consent_cannot_be_used(ehr_a: Persona, patient_a: Patient) -> None:
    sibling = PatientFactory.create(clinic=ehr_a.clinic)
    consent = record(ehr_a, sibling)
    response = release(ehr_a, patient_a, consent["id"])
    assert response.status_code == 400
    assert error_attrs(response) == {"consent"}
    assert release(ehr_a, patient_a, str(uuid.uuid4())).status_code == 400
    assert not Disclosure.objects.exists()


def test_a_release_replayed_with_its_idempotency_key_is_one_disclosure(ehr_a: Persona, patient_a: Patient) -> None:
    consent = record(ehr_a, patient_a)
    body = {"consent": consent["id"], "recipient_name": RECIPIENT, "categories": ["attendance"]}
    first = ehr_a.api.post(disclosures(patient_a), body, HTTP_IDEMPOTENCY_KEY="court-report-7")
    replay = ehr_a.api.post(disclosures(patient_a), body, HTTP_IDEMPOTENCY_KEY="court-report-7")
    assert first.status_code == replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert Disclosure.objects.count() == 1


def test_the_accounting_lists_every_disclosure_of_the_patient(ehr_a: Persona, auditor_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    other = PatientFactory.create(clinic=ehr_a.clinic)
    consent = record(ehr_a, patient)
    release(ehr_a, patient, consent["id"])
    release(ehr_a, patient, consent["id"], categories=["enrollment"])
    release(ehr_a, other, record(ehr_a, other)["id"])
    listed = auditor_a.api.get(disclosures(patient))
    assert listed.status_code == 200
    rows = listed.json()["results"]
    assert [row["categories"] for row in rows] == [["enrollment"], ["attendance"]]
    assert {(row["recipient_name"], row["notice"], row["consent"]) for row in rows} == {
        (RECIPIENT, REDISCLOSURE_NOTICE, consent["id"])
    }
    detail = auditor_a.api.get(f"{disclosures(patient)}{rows[0]['id']}/")
    assert detail.status_code == 200
    assert "data" not in detail.json()  # the accounting holds no copy of the records
    since = (timezone.now() + datetime.timedelta(minutes=1)).isoformat()
    assert auditor_a.api.get(disclosures(patient), {"updated_since": since}).json()["results"] == []
    assert auditor_a.api.get(disclosures(patient), {"updated_since": ""}).status_code == 400


def test_consents_filter_by_updated_since(ehr_a: Persona, patient_a: Patient) -> None:
    before = timezone.now()
    consent = record(ehr_a, patient_a)
    rows = ehr_a.api.get(consents(patient_a), {"updated_since": before.isoformat()}).json()["results"]
    assert [row["id"] for row in rows] == [consent["id"]]
    later = (timezone.now() + datetime.timedelta(minutes=1)).isoformat()
    assert ehr_a.api.get(consents(patient_a), {"updated_since": later}).json()["results"] == []


# --- what the database keeps ------------------------------------------------------------------


def test_a_disclosure_cannot_be_changed_or_deleted_even_with_raw_sql(ehr_a: Persona, patient_a: Patient) -> None:
    consent = record(ehr_a, patient_a)
    release(ehr_a, patient_a, consent["id"])
    disclosure = Disclosure.objects.get()
    table = Disclosure._meta.db_table
    for statement in (f"UPDATE {table} SET recipient_name = 'Someone else'", f"DELETE FROM {table}"):  # noqa: S608
        with (
            pytest.raises(DatabaseError, match="Cannot update or delete"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)
    with pytest.raises(DatabaseError, match="Cannot update or delete"), transaction.atomic():
        Disclosure.objects.filter(pk=disclosure.pk).update(categories=["demographics"])
    with pytest.raises(DatabaseError, match="Cannot update or delete"), transaction.atomic():
        disclosure.delete()
    assert Disclosure.objects.get().recipient_name == RECIPIENT


def test_a_consent_is_never_deleted_its_terms_never_change_and_a_revocation_is_final(
    ehr_a: Persona, patient_a: Patient
) -> None:
    consent_id = record(ehr_a, patient_a)["id"]
    table = Consent._meta.db_table
    for statement, message in (
        (f"DELETE FROM {table}", "Cannot delete"),  # noqa: S608
        (f"UPDATE {table} SET categories = '{{demographics,plan}}'", "Cannot update"),  # noqa: S608
        (f"UPDATE {table} SET recipient_name = 'Acme Staffing Inc.'", "Cannot update"),  # noqa: S608
    ):
        with pytest.raises(DatabaseError, match=message), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    with pytest.raises(IntegrityError, match="consent_revocation_complete"), transaction.atomic():
        Consent.objects.filter(pk=consent_id).update(revoked_at=timezone.now())
    ehr_a.api.post(f"{consents(patient_a)}{consent_id}/revoke/", {"reason": "Patient withdrew consent"})
    with pytest.raises(DatabaseError, match="Cannot update"), transaction.atomic():
        Consent.objects.filter(pk=consent_id).update(revoked_at=None, revoked_by="", revocation_reason="")
    assert Consent.objects.get(pk=consent_id).revoked_at is not None


def test_the_patients_history_shows_the_consent_and_its_revocation_with_the_actor(
    ehr_a: Persona, patient_a: Patient, make_client: Callable[..., Persona]
) -> None:
    consent = record(ehr_a, patient_a)
    ehr_a.api.post(f"{consents(patient_a)}{consent['id']}/revoke/", {"reason": "Patient withdrew consent"})
    rows = ehr_a.api.get(f"/api/v1/patients/{patient_a.pk}/history/").json()["results"]
    changes = [(row["change"], row["actor"]) for row in rows if row["object_type"] == "clinic.Consent"]
    assert ehr_a.client is not None
    assert changes == [("update", f"client:{ehr_a.client.pk}"), ("insert", f"client:{ehr_a.client.pk}")]
    without = make_client(ehr_a.clinic, [scope for scope in SCOPES if scope != "consents:read"])
    assert without.api.get(f"/api/v1/patients/{patient_a.pk}/history/").status_code == 403


# --- tenancy, roles, scopes -------------------------------------------------------------------


def _every_endpoint(patient: Patient, consent_id: str, disclosure_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    revoke_body = {"reason": "Patient withdrew consent"}
    release_body = {"consent": consent_id, "recipient_name": RECIPIENT, "categories": ["attendance"]}
    return [
        ("get", consents(patient), {}),
        ("post", consents(patient), new_consent()),
        ("get", f"{consents(patient)}{consent_id}/", {}),
        ("post", f"{consents(patient)}{consent_id}/revoke/", revoke_body),
        ("get", disclosures(patient), {}),
        ("post", disclosures(patient), release_body),
        ("get", f"{disclosures(patient)}{disclosure_id}/", {}),
    ]


@pytest.mark.parametrize("outsider", ["clinician_b", "ehr_b"])
def test_another_clinics_patient_consent_and_disclosure_are_404_everywhere(
    ehr_a: Persona, patient_a: Patient, outsider: str, request: pytest.FixtureRequest
) -> None:
    stranger: Persona = request.getfixturevalue(outsider)
    consent = record(ehr_a, patient_a)
    disclosure = release(ehr_a, patient_a, consent["id"]).json()["disclosure"]
    for method, url, body in _every_endpoint(patient_a, consent["id"], disclosure["id"]):
        response = getattr(stranger.api, method)(url, body)
        assert response.status_code == 404, (method, url, response.status_code)
    # Their own patient's path with our consent's or disclosure's id: 404 too.
    theirs = PatientFactory.create(clinic=stranger.clinic)
    for method, url, body in (
        ("get", f"{consents(theirs)}{consent['id']}/", {}),
        ("post", f"{consents(theirs)}{consent['id']}/revoke/", {"reason": "Patient withdrew consent"}),
        ("get", f"{disclosures(theirs)}{disclosure['id']}/", {}),
    ):
        assert getattr(stranger.api, method)(url, body).status_code == 404, (method, url)
    stolen = release(stranger, theirs, consent["id"])
    assert stolen.status_code == 400
    assert error_attrs(stolen) == {"consent"}
    assert Consent.objects.get(pk=consent["id"]).revoked_at is None
    assert Disclosure.objects.count() == 1


def test_front_desk_sees_no_consents_and_releases_nothing(ehr_a: Persona, front_desk_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    consent = record(ehr_a, patient)
    disclosure = release(ehr_a, patient, consent["id"]).json()["disclosure"]
    for method, url, body in _every_endpoint(patient, consent["id"], disclosure["id"]):
        response = getattr(front_desk_a.api, method)(url, body)
        assert response.status_code == 403, (method, url, response.status_code)
    assert Disclosure.objects.count() == 1
    assert Consent.objects.filter(revoked_at__isnull=True).count() == 1


def test_an_auditor_reads_consents_and_the_accounting_and_writes_nothing(ehr_a: Persona, auditor_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    consent = record(ehr_a, patient)
    disclosure = release(ehr_a, patient, consent["id"]).json()["disclosure"]
    for method, url, body in _every_endpoint(patient, consent["id"], disclosure["id"]):
        expected = 200 if method == "get" else 403
        assert getattr(auditor_a.api, method)(url, body).status_code == expected, (method, url)
    assert Consent.objects.count() == 1
    assert Disclosure.objects.count() == 1


def test_the_roles_get_the_scopes_the_design_gives_them() -> None:
    consent_scopes = {"consents:read", "consents:write", "disclosures:write"}
    for role in (Role.ADMIN, Role.CLINICIAN, Role.CASE_MANAGER):
        assert consent_scopes <= ROLE_SCOPES[role]
    assert not consent_scopes & ROLE_SCOPES[Role.FRONT_DESK]
    assert consent_scopes & ROLE_SCOPES[Role.AUDITOR] == {"consents:read"}


@pytest.mark.parametrize(
    ("missing", "method", "endpoint"),
    [
        ("consents:read", "get", "consents"),
        ("consents:read", "get", "disclosures"),
        ("consents:write", "post", "consents"),
        ("consents:write", "post", "revoke"),
        ("disclosures:write", "post", "disclosures"),
    ],
)
def test_a_client_without_the_scope_is_refused(
    ehr_a: Persona, make_client: Callable[..., Persona], missing: str, method: str, endpoint: str
) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    consent = record(ehr_a, patient)
    url = {
        "consents": consents(patient),
        "revoke": f"{consents(patient)}{consent['id']}/revoke/",
        "disclosures": disclosures(patient),
    }[endpoint]
    body: dict[str, Any] = {}
    if method == "post":
        body = {
            "consents": new_consent(),
            "revoke": {"reason": "Patient withdrew consent"},
            "disclosures": {"consent": consent["id"], "recipient_name": RECIPIENT, "categories": ["attendance"]},
        }[endpoint]
    without = make_client(ehr_a.clinic, [scope for scope in SCOPES if scope != missing])
    response = getattr(without.api, method)(url, body)
    assert response.status_code == 403
    assert missing in response.json()["errors"][0]["detail"]
    assert getattr(make_client(ehr_a.clinic, list(SCOPES)).api, method)(url, body).status_code in (200, 201)


def test_a_release_also_needs_the_read_scope_of_each_category(
    ehr_a: Persona, make_client: Callable[..., Persona]
) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    consent = record(ehr_a, patient, categories=["demographics", "plan"])
    releaser = make_client(ehr_a.clinic, ["disclosures:write", "patients:read"])
    refused = release(releaser, patient, consent["id"], categories=["demographics", "plan"])
    assert refused.status_code == 403
    assert "plans:read" in refused.json()["errors"][0]["detail"]
    assert not Disclosure.objects.exists()
    assert release(releaser, patient, consent["id"], categories=["demographics"]).status_code == 201


# --- the service and the registry, called directly --------------------------------------------


def test_the_service_refuses_a_patient_of_another_clinic(ehr_a: Persona, ehr_b: Persona) -> None:
    theirs = PatientFactory.create(clinic=ehr_b.clinic)
    with pytest.raises(ValidationError, match="patient"):
        consent_record(
            patient=theirs,
            by=caller_of(ehr_a),
            recipient_name=RECIPIENT,
            purpose="Coordination of care",
            categories=["enrollment"],
            signed_on=timezone.localdate(timezone=ehr_a.clinic.zone),
            expiry_event="Discharge",
        )
    assert not Consent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_release_waits_for_the_consent_row_another_transaction_holds() -> None:
    """A revocation in progress holds the consent row: a release must wait for it, not read past it."""
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic)
    client = integration_client(clinic, list(SCOPES))
    by = Caller(clinic=clinic, scopes=frozenset(SCOPES), client=client)
    consent = consent_record(
        patient=patient,
        by=by,
        recipient_name=RECIPIENT,
        purpose="Coordination of care",
        categories=["enrollment"],
        signed_on=timezone.localdate(timezone=clinic.zone),
        expiry_event="Discharge",
    )

    def release_enrollment() -> Any:
        return disclosure_release(
            patient=patient, consent_id=consent.pk, by=by, recipient_name=RECIPIENT, categories=["enrollment"]
        )

    other = connection.copy()
    try:
        with other.cursor() as holder:
            holder.execute("BEGIN")
            holder.execute(f"SELECT 1 FROM {Consent._meta.db_table} WHERE id = %s FOR UPDATE", [consent.pk])  # noqa: S608
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '300ms'")
                with pytest.raises(OperationalError, match="lock timeout"):
                    release_enrollment()
            holder.execute("ROLLBACK")
    finally:
        other.close()
    assert not Disclosure.objects.exists()
    release_enrollment()
    assert Disclosure.objects.count() == 1
    assert consent_revoke(consent=consent, by=by, reason="Patient withdrew consent").revoked_at is not None


def test_the_registry_takes_one_provider_per_known_category() -> None:
    def provider(patient: Patient, categories: frozenset[str]) -> Released:
        return Released(None)

    with pytest.raises(ImproperlyConfigured):
        release_provider_register("diagnosis", provider)
    with pytest.raises(ImproperlyConfigured):
        release_provider_register(DisclosureCategory.PLAN, provider)


# --- admin ------------------------------------------------------------------------------------


def test_the_admin_shows_a_clinics_consents_and_disclosures_read_only(
    ehr_a: Persona, ehr_b: Persona, patient_a: Patient
) -> None:
    ours = record(ehr_a, patient_a)
    release(ehr_a, patient_a, ours["id"])
    theirs = record(ehr_b, PatientFactory.create(clinic=ehr_b.clinic))
    user = UserFactory.create(is_staff=True)
    MembershipFactory.create(user=user, clinic=ehr_a.clinic, role=Role.ADMIN)
    browser = Client()
    verified_login(browser, user)
    page = browser.get("/admin/clinic/consent/")
    assert page.status_code == 200
    assert ours["id"].encode() in page.content
    assert theirs["id"].encode() not in page.content
    assert browser.get("/admin/clinic/consent/", {"q": "not an id"}).status_code == 200
    assert browser.get("/admin/clinic/consent/add/").status_code == 403
    change = browser.post(f"/admin/clinic/consent/{ours['id']}/change/", {"recipient_name": "Someone else"})
    assert change.status_code == 403
    assert browser.get("/admin/clinic/disclosure/").status_code == 200
    disclosure = Disclosure.objects.get()
    assert browser.post(f"/admin/clinic/disclosure/{disclosure.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Consent.objects.get(pk=ours["id"]).recipient_name == RECIPIENT
