"""The aftercare plan as a form: create, edit, activities as a formset, errors next to fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

from aftercare.dashboard.patients.plan_forms import trigger_from_line, trigger_to_line
from aftercare.models import AftercarePlan, PlanActivity
from clinic.models import AccessEvent, Role
from tests.aftercare.factories import ActivityFactory, PlanFactory
from tests.factories import ClinicFactory, PatientFactory

StaffClient = Callable[..., tuple[Any, Any]]


def _url(patient: Any) -> str:
    return f"/patients/{patient.pk}/plan/"


def _body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "active",
        "activities-TOTAL_FORMS": "0",
        "activities-INITIAL_FORMS": "0",
        "emergency-TOTAL_FORMS": "0",
        "emergency-INITIAL_FORMS": "0",
        "support-TOTAL_FORMS": "0",
        "support-INITIAL_FORMS": "0",
    }
    body.update(fields)
    return body


def test_a_clinician_writes_a_new_plan_with_every_part(db: None, staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic)
    client, user = staff_client(clinic, Role.CLINICIAN)
    assert client.get(_url(patient)).status_code == 200
    response = client.post(
        _url(patient),
        _body(
            goals="Stay sober through the holidays",
            warning_signs="Skipping meals\n\n  Not calling my sponsor  ",
            triggers="Stress: deadlines at work\nMy cousin's parties",
            coping_strategies="Breathing\nJournaling",
            daily_routine="Wake at 7\nWalk",
            where_to_go="My sister's flat",
            what_to_do="Call my sponsor, then go to a meeting",
            sponsor_name="Dan",
            sponsor_phone="312-555-0123",
            **{
                "activities-TOTAL_FORMS": "2",
                "activities-0-kind": "medication",
                "activities-0-frequency_count": "1",
                "activities-0-frequency_period": "day",
                "activities-0-medication": "methadone",
                "activities-0-dose_schedule": "60 mg daily",
                "activities-0-medication_started_on": "2026-11-01",
                "activities-1-frequency_period": "week",
                "emergency-TOTAL_FORMS": "1",
                "emergency-0-name": "Ana",
                "emergency-0-relationship": "Sister",
                "emergency-0-phone": "312-555-0111",
                "support-TOTAL_FORMS": "1",
                "support-0-name": "Luis",
                "support-0-phone": "312-555-0112",
            },
        ),
    )
    assert response.status_code == 302
    plan = AftercarePlan.objects.get(patient=patient)
    assert plan.status == "active"
    assert plan.created_by == user
    assert plan.warning_signs == ["Skipping meals", "Not calling my sponsor"]
    assert plan.triggers == [
        {"category": "stress", "description": "deadlines at work"},
        {"category": "other", "description": "My cousin's parties"},
    ]
    assert plan.emergency_plan == {
        "contacts": [{"name": "Ana", "relationship": "Sister", "phone": "312-555-0111"}],
        "where_to_go": "My sister's flat",
        "what_to_do": "Call my sponsor, then go to a meeting",
    }
    assert plan.support_persons == [{"name": "Luis", "relationship": "", "phone": "312-555-0112"}]
    assert plan.sponsor == {"name": "Dan", "phone": "312-555-0123"}
    assert plan.daily_routine == "Wake at 7\nWalk"
    (activity,) = plan.activities.all()
    assert (activity.medication, activity.dose_schedule) == ("methadone", "60 mg daily")
    event = AccessEvent.objects.get(user=user, object_type="dashboard.plan", action="create")
    assert event.object_ids == [plan.pk]
    assert event.patient_ids == [patient.pk]


def test_editing_keeps_adds_and_removes_activities(db: None, staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    plan = PlanFactory.create(patient=PatientFactory.create(clinic=clinic), warning_signs=["Old sign"])
    keep = ActivityFactory.create(plan=plan, kind="individual_therapy", provider="Dr Old")
    drop = ActivityFactory.create(plan=plan, kind="psychiatry", position=1)
    client, _ = staff_client(clinic, Role.CASE_MANAGER)
    page = client.get(_url(plan.patient)).content.decode()
    assert "Old sign" in page
    assert "Dr Old" in page
    response = client.post(
        _url(plan.patient),
        _body(
            warning_signs="Old sign\nNew sign",
            **{
                "activities-TOTAL_FORMS": "3",
                "activities-INITIAL_FORMS": "2",
                "activities-0-id": str(keep.pk),
                "activities-0-kind": "individual_therapy",
                "activities-0-frequency_count": "2",
                "activities-0-frequency_period": "week",
                "activities-0-provider": "Dr New",
                "activities-1-id": str(drop.pk),
                "activities-1-kind": "psychiatry",
                "activities-1-frequency_period": "week",
                "activities-1-DELETE": "on",
                "activities-2-kind": "wellness",
                "activities-2-wellness_kind": "yoga",
                "activities-2-frequency_period": "week",
            },
        ),
    )
    assert response.status_code == 302
    plan.refresh_from_db()
    assert plan.warning_signs == ["Old sign", "New sign"]
    activities = list(PlanActivity.objects.filter(plan=plan).order_by("position"))
    assert [(a.pk == keep.pk, a.kind, a.provider) for a in activities] == [
        (True, "individual_therapy", "Dr New"),
        (False, "wellness", ""),
    ]
    assert activities[0].frequency_count == 2


def test_a_service_refusal_shows_next_to_the_activity_field_and_writes_nothing(
    db: None, staff_client: StaffClient
) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic)
    client, _ = staff_client(clinic, Role.CLINICIAN)
    response = client.post(
        _url(patient),
        _body(
            warning_signs="Sign",
            **{
                "activities-TOTAL_FORMS": "1",
                "activities-0-kind": "medication",
                "activities-0-frequency_period": "week",
            },
        ),
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="id_activities-0-medication_error"' in page
    assert "Name the medication" in page
    assert not AftercarePlan.objects.filter(patient=patient).exists()


def test_bad_input_names_the_fields(db: None, staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic)
    client, _ = staff_client(clinic, Role.CLINICIAN)
    response = client.post(
        _url(patient),
        _body(
            start_date="2026-12-01",
            end_date="2026-11-01",
            warning_signs="x" * 301,
            sponsor_name="Dan",
            **{
                "emergency-TOTAL_FORMS": "1",
                "emergency-0-name": "Ana",
                "emergency-0-phone": "call me",
            },
        ),
    )
    assert response.status_code == 200
    page = response.content.decode()
    for field in (
        "id_end_date_error",
        "id_warning_signs_error",
        "id_sponsor_phone_error",
        "id_emergency-0-phone_error",
    ):
        assert field in page, field
    assert not AftercarePlan.objects.filter(patient=patient).exists()


def test_a_plan_completed_from_the_form_is_then_history(db: None, staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    plan = PlanFactory.create(patient=PatientFactory.create(clinic=clinic))
    client, _ = staff_client(clinic, Role.CLINICIAN)
    assert client.post(_url(plan.patient), _body(status="completed", warning_signs="Sign")).status_code == 302
    plan.refresh_from_db()
    assert plan.status == "completed"
    assert plan.end_date is not None
    page = client.get(_url(plan.patient)).content.decode()
    assert "A new plan" in page


def test_front_desk_may_not_open_the_plan(db: None, staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    plan = PlanFactory.create(patient=PatientFactory.create(clinic=clinic))
    client, user = staff_client(clinic, Role.FRONT_DESK)
    response = client.get(_url(plan.patient))
    assert response.status_code == 403
    assert "Skipping meals" not in response.content.decode()
    assert client.post(_url(plan.patient), _body()).status_code == 403
    assert AccessEvent.objects.filter(user=user, action="denied", object_type="dashboard.plan").count() == 2


def test_the_auditor_reads_the_plan_without_a_form_and_may_not_post(db: None, staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    plan = PlanFactory.create(patient=PatientFactory.create(clinic=clinic))
    client, user = staff_client(clinic, Role.AUDITOR)
    page = client.get(_url(plan.patient)).content.decode()
    assert "Skipping meals" in page
    assert '<form method="post" class="plan-form"' not in page
    assert client.post(_url(plan.patient), _body(warning_signs="Changed")).status_code == 403
    plan.refresh_from_db()
    assert plan.warning_signs == ["Skipping meals", "Avoiding my sponsor"]
    assert AccessEvent.objects.filter(user=user, action="denied", object_type="dashboard.plan").exists()


def test_another_clinics_plan_is_a_404_page_and_a_denied_event(db: None, staff_client: StaffClient) -> None:
    plan = PlanFactory.create()
    client, user = staff_client(ClinicFactory.create(), Role.CLINICIAN)
    assert client.get(_url(plan.patient)).status_code == 404
    assert client.post(_url(plan.patient), _body(warning_signs="x")).status_code == 404
    assert AccessEvent.objects.filter(user=user, action="denied", object_ids=[plan.patient.pk]).count() == 2
    plan.refresh_from_db()
    assert plan.warning_signs == ["Skipping meals", "Avoiding my sponsor"]


def test_the_plan_page_costs_the_same_queries_with_3_or_25_activities(db: None, staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    few = PlanFactory.create(patient=PatientFactory.create(clinic=clinic))
    many = PlanFactory.create(patient=PatientFactory.create(clinic=clinic))
    for n in range(3):
        ActivityFactory.create(plan=few, position=n)
    for n in range(25):
        ActivityFactory.create(plan=many, position=n)
    client, _ = staff_client(clinic, Role.CLINICIAN)
    client.get(_url(few.patient))
    counts = []
    for plan in (few, many):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(_url(plan.patient)).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 10


def test_triggers_read_back_as_they_were_typed() -> None:
    for line in ("Stress: deadlines", "Social pressure: old friends", "Payday"):
        assert trigger_to_line(trigger_from_line(line)) == line
    assert trigger_from_line("Physical pain or illness: back")["category"] == "pain_or_illness"
