"""`/api/v1/check-ins/`: read-only, the answers in the body, `checkins:read` (never front desk),
another clinic's check-in is 404, every read in the access log; and a patient's `checkins_opt_in`
through the patients API."""

from __future__ import annotations

import datetime
from typing import Any

from django.utils import timezone
from rest_framework.test import APIClient

from aftercare.checkins.instrument import Answers
from aftercare.models import AftercarePlan, CheckIn, CheckInStatus, PlanStatus
from aftercare.services.checkins import checkin_answer
from clinic.auth.scopes import ROLE_SCOPES, SCOPES
from clinic.models import AccessEvent, Clinic, Patient, Role
from tests.aftercare.factories import PlanFactory
from tests.conftest import Persona
from tests.factories import PatientFactory

URL = "/api/v1/check-ins/"
ANSWERS = Answers(2, 3, 1, 0, 4, 1, 2, 3, 1, wants_call=True)


def checkin_of(patient: Patient, *, days_ago: int = 0, answered: bool = False) -> CheckIn:
    plan = patient.plans.filter(status=PlanStatus.ACTIVE).first() or PlanFactory.create(patient=patient)
    now = timezone.now() - datetime.timedelta(days=days_ago)
    checkin = CheckIn.objects.create(
        clinic=patient.clinic,
        patient=patient,
        plan=plan,
        due_on=now.date(),
        send_at=now,
        status=CheckInStatus.SENT,
        attempts=1,
        sent_at=now,
        expires_at=timezone.now() + datetime.timedelta(hours=72),
    )
    if answered:
        checkin_answer(checkin_id=checkin.pk, answers=ANSWERS)
        checkin.refresh_from_db()
    return checkin


def test_a_checkin_is_read_with_its_answers_and_scores(ehr_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic, checkins_opt_in=True)
    answered = checkin_of(patient, days_ago=7, answered=True)
    waiting = checkin_of(PatientFactory.create(clinic=ehr_a.clinic, checkins_opt_in=True))

    body = ehr_a.api.get(f"{URL}{answered.pk}/").json()
    pending = ehr_a.api.get(f"{URL}{waiting.pk}/").json()

    assert body["status"] == "answered"
    assert body["patient"] == str(patient.pk)
    assert body["answers"] == {
        "instrument": "bam-adapted-1",
        "answered_at": body["answered_at"],
        "use_days": 2,
        "craving": 3,
        "sleep_trouble_days": 1,
        "low_mood_days": 0,
        "anxious_days": 4,
        "angry_days": 1,
        "confidence": 2,
        "support": 3,
        "meeting_days": 1,
        "wants_call": True,
        "risk_score": 1 + 3 + 3,
        "protective_score": 2 + 1 + 3,
    }
    assert pending["status"] == "sent"
    assert pending["answers"] is None


def test_the_list_filters_by_patient_status_and_updated_since_and_pages_by_cursor(ehr_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic, checkins_opt_in=True)
    other = PatientFactory.create(clinic=ehr_a.clinic, checkins_opt_in=True)
    mine = [checkin_of(patient, days_ago=14, answered=True), checkin_of(patient, days_ago=7, answered=True)]
    theirs = checkin_of(other)

    def ids(**params: Any) -> set[str]:
        response = ehr_a.api.get(URL, params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids() == {str(c.pk) for c in [*mine, theirs]}
    assert ids(patient=str(patient.pk)) == {str(c.pk) for c in mine}
    assert ids(status="sent") == {str(theirs.pk)}
    assert ids(status="answered", patient=str(other.pk)) == set()
    assert ids(updated_since=(timezone.now() + datetime.timedelta(minutes=1)).isoformat()) == set()
    first = ehr_a.api.get(URL, {"page_size": 2}).json()
    assert len(first["results"]) == 2
    second = APIClient()
    second.credentials(HTTP_AUTHORIZATION=ehr_a.api._credentials["HTTP_AUTHORIZATION"])  # type: ignore[attr-defined]
    rest = second.get(first["next"]).json()["results"]
    assert {row["id"] for row in first["results"] + rest} == {str(c.pk) for c in [*mine, theirs]}
    bad = ehr_a.api.get(URL, {"status": "lost"})
    assert bad.status_code == 400
    assert "status" in bad.content.decode()


def test_another_clinics_checkin_is_404_and_never_listed(ehr_a: Persona, ehr_b: Persona) -> None:
    foreign = checkin_of(PatientFactory.create(clinic=ehr_b.clinic, checkins_opt_in=True), answered=True)

    assert ehr_a.api.get(f"{URL}{foreign.pk}/").status_code == 404
    assert ehr_a.api.get(URL).json()["results"] == []
    assert ehr_a.api.get(URL, {"patient": str(foreign.patient_id)}).json()["results"] == []
    assert ehr_b.api.get(f"{URL}{foreign.pk}/").status_code == 200


def test_only_callers_holding_checkins_read_see_checkins_and_front_desk_never_does(
    clinic_a: Clinic, make_client: Any, make_staff: Any
) -> None:
    checkin = checkin_of(PatientFactory.create(clinic=clinic_a, checkins_opt_in=True), answered=True)
    without = make_client(clinic_a, [scope for scope in SCOPES if scope != "checkins:read"])
    only = make_client(clinic_a, ["checkins:read"])

    assert without.api.get(URL).status_code == 403
    assert without.api.get(f"{URL}{checkin.pk}/").status_code == 403
    assert only.api.get(URL).status_code == 200
    assert only.api.get(f"{URL}{checkin.pk}/").status_code == 200
    assert "checkins:read" not in ROLE_SCOPES[Role.FRONT_DESK]
    for role, status in (
        (Role.FRONT_DESK, 403),
        (Role.CLINICIAN, 200),
        (Role.CASE_MANAGER, 200),
        (Role.ADMIN, 200),
        (Role.AUDITOR, 200),
    ):
        staff = make_staff(clinic_a, role)
        assert staff.api.get(URL).status_code == status, role
        assert staff.api.get(f"{URL}{checkin.pk}/").status_code == status, role


def test_the_api_is_read_only(ehr_a: Persona) -> None:
    checkin = checkin_of(PatientFactory.create(clinic=ehr_a.clinic, checkins_opt_in=True))

    assert ehr_a.api.post(URL, {}, format="json").status_code == 405
    assert ehr_a.api.patch(f"{URL}{checkin.pk}/", {"status": "answered"}, format="json").status_code == 405
    assert ehr_a.api.delete(f"{URL}{checkin.pk}/").status_code == 405
    assert CheckIn.objects.get(pk=checkin.pk).status == CheckInStatus.SENT


def test_reads_are_in_the_access_log(ehr_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic, checkins_opt_in=True)
    checkin = checkin_of(patient, answered=True)

    assert ehr_a.api.get(URL).status_code == 200
    assert ehr_a.api.get(f"{URL}{checkin.pk}/").status_code == 200

    listed, viewed = AccessEvent.objects.filter(object_type="check-in").order_by("at")
    assert (listed.action, [str(i) for i in listed.object_ids], listed.patient_ids) == (
        "list",
        [str(checkin.pk)],
        [patient.pk],
    )
    assert (viewed.action, [str(i) for i in viewed.object_ids], viewed.patient_ids) == (
        "view",
        [str(checkin.pk)],
        [patient.pk],
    )


def test_staff_set_checkins_opt_in_through_the_patients_api_and_an_opt_out_cancels_open_checkins(
    ehr_a: Persona,
) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    assert patient.checkins_opt_in is False  # as for reminders, the default is no
    url = f"/api/v1/patients/{patient.pk}/"

    opted_in = ehr_a.api.patch(url, {"checkins_opt_in": True}, format="json")
    checkin = checkin_of(Patient.objects.get(pk=patient.pk))
    opted_out = ehr_a.api.patch(url, {"checkins_opt_in": False}, format="json")
    invalid = ehr_a.api.patch(url, {"checkins_opt_in": "perhaps"}, format="json")

    assert opted_in.status_code == 200
    assert opted_in.json()["checkins_opt_in"] is True
    assert opted_out.json()["checkins_opt_in"] is False
    assert CheckIn.objects.get(pk=checkin.pk).status == CheckInStatus.CANCELLED
    assert invalid.status_code == 400
    assert "checkins_opt_in" in invalid.content.decode()


def test_the_schema_documents_the_resource_its_scope_and_its_filters(db: None) -> None:
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    path = schema["paths"][URL]
    assert set(path) == {"get"}
    assert path["get"]["security"][0] == {"oauth2": ["checkins:read"]}
    assert {"cursor", "page_size", "patient", "status", "updated_since"} <= {
        p["name"] for p in path["get"]["parameters"]
    }
    assert set(schema["paths"][f"{URL}{{id}}/"]) == {"get"}
    answers = schema["components"]["schemas"]["CheckInAnswers"]["properties"]
    assert {"use_days", "craving", "confidence", "risk_score", "protective_score", "wants_call"} <= set(answers)


def test_a_release_of_check_ins_holds_the_answers_and_needs_checkins_read(ehr_a: Persona, make_client: Any) -> None:
    from tests.clinic.test_consents import record, release

    patient = PatientFactory.create(clinic=ehr_a.clinic, checkins_opt_in=True)
    checkin_of(patient, days_ago=7, answered=True)
    checkin_of(patient)
    consent = record(ehr_a, patient, categories=["attendance", "check_ins"])
    without = make_client(ehr_a.clinic, [scope for scope in SCOPES if scope != "checkins:read"])

    released = release(ehr_a, patient, consent["id"], categories=["check_ins"])
    attendance_only = release(ehr_a, patient, consent["id"], categories=["attendance"])
    refused = release(without, patient, consent["id"], categories=["check_ins"])

    assert released.status_code == 201, released.json()
    data = released.json()["data"]
    assert set(data) == {"check_ins"}
    answered, waiting = data["check_ins"]
    assert answered["status"] == "answered"
    assert answered["answers"]["craving"] == 3
    assert answered["risk_score"] == 7
    assert waiting["answers"] is None
    assert "check_ins" not in attendance_only.json()["data"]
    assert refused.status_code == 403
    assert "checkins:read" in refused.content.decode()


def test_the_plan_sets_how_often_check_ins_go_and_refuses_a_bad_interval(ehr_a: Persona) -> None:
    plan = PlanFactory.create(patient=PatientFactory.create(clinic=ehr_a.clinic))
    url = f"/api/v1/plans/{plan.pk}/"
    assert ehr_a.api.get(url).json()["checkin_every_days"] == 7

    changed = ehr_a.api.patch(url, {"checkin_every_days": 14}, format="json")
    off = ehr_a.api.patch(url, {"checkin_every_days": 0}, format="json")
    too_long = ehr_a.api.patch(url, {"checkin_every_days": 91}, format="json")
    negative = ehr_a.api.patch(url, {"checkin_every_days": -1}, format="json")

    assert changed.status_code == 200
    assert changed.json()["checkin_every_days"] == 14
    assert off.json()["checkin_every_days"] == 0
    for refused in (too_long, negative):
        assert refused.status_code == 400
        assert {error["attr"] for error in refused.json()["errors"]} == {"checkin_every_days"}
    assert AftercarePlan.objects.get(pk=plan.pk).checkin_every_days == 0
