"""Plans (one active per patient, lifecycle, clinical detail for clinical callers only) and groups."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from aftercare.models import AftercarePlan, GroupAttendance, PlanStatus
from clinic.models import Role
from tests.aftercare.factories import (
    AppointmentFactory,
    GroupSessionFactory,
    PlanFactory,
    SupportGroupFactory,
    latest_change,
)
from tests.aftercare.test_journey import FULL_PLAN
from tests.conftest import Persona
from tests.factories import PatientFactory

PLANS = "/api/v1/plans/"


def attrs(response: Any) -> set[str | None]:
    return {error["attr"] for error in response.json()["errors"]}


def test_a_second_active_plan_is_a_409_conflict_naming_status(ehr_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    assert ehr_a.api.post(PLANS, {"patient": str(patient.pk), "status": "active"}).status_code == 201
    second = ehr_a.api.post(PLANS, {"patient": str(patient.pk), "status": "active"})
    assert second.status_code == 409
    assert attrs(second) == {"status"}
    assert second.json()["type"] == "client_error"
    assert second.json()["errors"][0]["code"] == "conflict"
    draft = ehr_a.api.post(PLANS, {"patient": str(patient.pk)}).json()
    activate = ehr_a.api.post(f"{PLANS}{draft['id']}/activate/", {})
    assert activate.status_code == 409
    assert attrs(activate) == {"status"}
    assert AftercarePlan.objects.filter(status=PlanStatus.ACTIVE).count() == 1


def test_the_database_allows_one_active_plan_per_patient(db: None) -> None:
    plan = PlanFactory.create()
    with pytest.raises(IntegrityError), transaction.atomic():
        AftercarePlan.objects.create(clinic=plan.clinic, patient=plan.patient, status=PlanStatus.ACTIVE)


def test_a_plan_goes_from_draft_to_active_to_completed_and_then_stays(ehr_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    plan = ehr_a.api.post(PLANS, {"patient": str(patient.pk)}).json()
    assert plan["status"] == "draft"
    active = ehr_a.api.post(f"{PLANS}{plan['id']}/activate/", {"date": "2026-10-01"}).json()
    assert (active["status"], active["start_date"]) == ("active", "2026-10-01")
    done = ehr_a.api.post(f"{PLANS}{plan['id']}/complete/", {"date": "2026-12-01"}).json()
    assert (done["status"], done["end_date"]) == ("completed", "2026-12-01")
    again = ehr_a.api.post(f"{PLANS}{plan['id']}/activate/", {})
    assert again.status_code == 409
    assert attrs(again) == {"status"}
    assert again.json()["errors"][0]["detail"] == "This plan is completed: it cannot become active."
    frozen = ehr_a.api.patch(f"{PLANS}{plan['id']}/", {"goals": "Changed"})
    assert frozen.status_code == 409
    # A new plan may follow a completed one.
    assert ehr_a.api.post(PLANS, {"patient": str(patient.pk), "status": "active"}).status_code == 201


def test_status_changes_only_through_the_transitions(ehr_a: Persona) -> None:
    plan = PlanFactory.create(patient=PatientFactory.create(clinic=ehr_a.clinic), status=PlanStatus.DRAFT)
    response = ehr_a.api.patch(f"{PLANS}{plan.pk}/", {"status": "active"})
    assert response.status_code == 400
    assert attrs(response) == {"status"}


def test_activities_are_updated_added_and_removed_by_id(ehr_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    plan = ehr_a.api.post(PLANS, {**FULL_PLAN, "patient": str(patient.pk)}).json()
    therapy, medication = plan["activities"][0], plan["activities"][1]
    AppointmentFactory.create(clinic=ehr_a.clinic, patient=patient, activity_id=therapy["id"])
    response = ehr_a.api.patch(
        f"{PLANS}{plan['id']}/",
        {"activities": [{**therapy, "provider": "Dr. Patel"}, {"kind": "wellness", "wellness_kind": "meditation"}]},
    )
    assert response.status_code == 200, response.json()
    activities = response.json()["activities"]
    assert [(a["id"] == therapy["id"], a["kind"], a["provider"]) for a in activities] == [
        (True, "individual_therapy", "Dr. Patel"),
        (False, "wellness", ""),
    ]
    assert medication["id"] not in {a["id"] for a in activities}
    booked = ehr_a.api.patch(f"{PLANS}{plan['id']}/", {"activities": []})
    assert booked.status_code == 400
    assert attrs(booked) == {"activities"}


@pytest.mark.parametrize(
    ("activity", "field"),
    [
        ({"kind": "medication"}, "activities.0.medication"),
        ({"kind": "support_group"}, "activities.0.support_group_kind"),
        ({"kind": "wellness"}, "activities.0.wellness_kind"),
        ({"kind": "therapy"}, "activities.0.kind"),
        ({"kind": "psychiatry", "medication": "methadone"}, "activities.0.medication"),
        ({"kind": "psychiatry", "frequency_count": 0}, "activities.0.frequency_count"),
    ],
)
def test_a_bad_activity_is_400_naming_it(ehr_a: Persona, activity: dict[str, Any], field: str) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    response = ehr_a.api.post(PLANS, {"patient": str(patient.pk), "activities": [activity]})
    assert response.status_code == 400, response.json()
    assert attrs(response) == {field}
    assert not AftercarePlan.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"start_date": "2026-10-10", "end_date": "2026-10-01"}, "end_date"),
        ({"triggers": [{"category": "boredom"}]}, "triggers.0.category"),
        ({"emergency_plan": {"contacts": [{"name": "Maria"}]}}, "emergency_plan.contacts.0.phone"),
        ({"sponsor": {"name": "Dave", "phone": "call him"}}, "sponsor.phone"),
        ({"warning_signs": "one long string"}, "warning_signs"),
    ],
)
def test_a_bad_structured_part_is_400_naming_it(ehr_a: Persona, change: dict[str, Any], field: str) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    response = ehr_a.api.post(PLANS, {"patient": str(patient.pk), **change})
    assert response.status_code == 400
    assert attrs(response) == {field}


@pytest.mark.parametrize("role", [Role.FRONT_DESK])
def test_front_desk_never_sees_clinical_parts(ehr_a: Persona, make_staff: Any, role: str) -> None:
    front_desk = make_staff(ehr_a.clinic, role)
    plan = PlanFactory.create(patient=PatientFactory.create(clinic=ehr_a.clinic))
    assert front_desk.api.get(PLANS).status_code == 403
    assert front_desk.api.get(f"{PLANS}{plan.pk}/").status_code == 403
    assert front_desk.api.post(PLANS, {"patient": str(plan.patient_id)}).status_code == 403


def test_a_client_without_plans_read_never_sees_clinical_parts(ehr_a: Persona, make_client: Any) -> None:
    scheduler = make_client(ehr_a.clinic, ["patients:read", "schedule:read", "schedule:write", "attendance:write"])
    plan = PlanFactory.create(patient=PatientFactory.create(clinic=ehr_a.clinic))
    assert scheduler.api.get(f"{PLANS}{plan.pk}/").status_code == 403
    assert scheduler.api.get(PLANS).status_code == 403


def test_an_auditor_reads_plans_but_cannot_change_them(ehr_a: Persona, make_staff: Any) -> None:
    auditor = make_staff(ehr_a.clinic, Role.AUDITOR)
    plan = PlanFactory.create(patient=PatientFactory.create(clinic=ehr_a.clinic))
    assert auditor.api.get(f"{PLANS}{plan.pk}/").status_code == 200
    assert auditor.api.patch(f"{PLANS}{plan.pk}/", {"goals": "x"}).status_code == 403


# --- groups ---------------------------------------------------------------------------------


def test_bulk_attendance_is_all_or_nothing(ehr_a: Persona, ehr_b: Persona) -> None:
    session = GroupSessionFactory.create(group=SupportGroupFactory.create(clinic=ehr_a.clinic))
    mine = PatientFactory.create(clinic=ehr_a.clinic)
    theirs = PatientFactory.create(clinic=ehr_b.clinic)
    url = f"/api/v1/group-sessions/{session.pk}/attendance/"
    mixed = ehr_a.api.post(
        url,
        {
            "attendance": [
                {"patient": str(mine.pk), "status": "attended"},
                {"patient": str(theirs.pk), "status": "attended"},
            ]
        },
    )
    assert mixed.status_code == 400
    assert attrs(mixed) == {"attendance.1.patient"}
    twice = ehr_a.api.post(
        url,
        {
            "attendance": [
                {"patient": str(mine.pk), "status": "attended"},
                {"patient": str(mine.pk), "status": "missed"},
            ]
        },
    )
    assert twice.status_code == 400
    assert not GroupAttendance.objects.exists()
    ok = ehr_a.api.post(url, {"attendance": [{"patient": str(mine.pk), "status": "attended"}]})
    assert ok.status_code == 200
    changed = ehr_a.api.post(
        url, {"attendance": [{"patient": str(mine.pk), "status": "late", "reason": "Came at 7:20"}]}
    )
    assert [row["status"] for row in changed.json()["results"]] == ["late"]
    assert GroupAttendance.objects.count() == 1


def test_re_recording_a_different_status_over_a_recorded_one_needs_a_reason(ehr_a: Persona) -> None:
    session = GroupSessionFactory.create(group=SupportGroupFactory.create(clinic=ehr_a.clinic))
    missed, came = PatientFactory.create(clinic=ehr_a.clinic), PatientFactory.create(clinic=ehr_a.clinic)
    url = f"/api/v1/group-sessions/{session.pk}/attendance/"
    first = [{"patient": str(missed.pk), "status": "missed"}, {"patient": str(came.pk), "status": "attended"}]
    assert ehr_a.api.post(url, {"attendance": first}).status_code == 200
    overwrite = [{"patient": str(came.pk), "status": "attended"}, {"patient": str(missed.pk), "status": "attended"}]
    refused = ehr_a.api.post(url, {"attendance": overwrite})
    assert refused.status_code == 400
    assert attrs(refused) == {"attendance.1.reason"}
    assert GroupAttendance.objects.get(patient=missed).status == "missed"
    overwrite[1]["reason"] = "Signed the sheet late"
    corrected = ehr_a.api.post(url, {"attendance": overwrite})
    assert corrected.status_code == 200
    row = GroupAttendance.objects.get(patient=missed)
    assert (row.status, row.reason) == ("attended", "Signed the sheet late")
    assert latest_change(row).reason == "Signed the sheet late"


def test_front_desk_records_group_attendance_but_cannot_correct_it(ehr_a: Persona, make_staff: Any) -> None:
    front_desk = make_staff(ehr_a.clinic, Role.FRONT_DESK)
    session = GroupSessionFactory.create(group=SupportGroupFactory.create(clinic=ehr_a.clinic))
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    url = f"/api/v1/group-sessions/{session.pk}/attendance/"
    assert (
        front_desk.api.post(url, {"attendance": [{"patient": str(patient.pk), "status": "missed"}]}).status_code == 200
    )
    again = front_desk.api.post(url, {"attendance": [{"patient": str(patient.pk), "status": "missed"}]})
    assert again.status_code == 200  # the same status again changes nothing
    correction = [{"patient": str(patient.pk), "status": "attended", "reason": "Mistake"}]
    assert front_desk.api.post(url, {"attendance": correction}).status_code == 403
    assert GroupAttendance.objects.get(patient=patient).status == "missed"


def test_group_attendance_waits_for_the_session(ehr_a: Persona) -> None:
    later = timezone.now() + datetime.timedelta(days=1)
    session = GroupSessionFactory.create(
        group=SupportGroupFactory.create(clinic=ehr_a.clinic),
        starts_at=later,
        ends_at=later + datetime.timedelta(hours=1),
    )
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    response = ehr_a.api.post(
        f"/api/v1/group-sessions/{session.pk}/attendance/",
        {"attendance": [{"patient": str(patient.pk), "status": "attended"}]},
    )
    assert response.status_code == 400
    assert attrs(response) == {"attendance"}


def test_members_join_and_leave(ehr_a: Persona) -> None:
    group = SupportGroupFactory.create(clinic=ehr_a.clinic)
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    url = f"/api/v1/support-groups/{group.pk}/members/"
    assert ehr_a.api.post(url, {"patient": str(patient.pk), "joined_on": "2026-10-01"}).status_code == 201
    assert attrs(ehr_a.api.post(url, {"patient": str(patient.pk)})) == {"patient"}
    left = ehr_a.api.post(f"{url}leave/", {"patient": str(patient.pk), "left_on": "2026-11-01"})
    assert left.status_code == 200
    assert ehr_a.api.get(url).json()["results"][0]["left_on"] == "2026-11-01"
    assert ehr_a.api.post(url, {"patient": str(patient.pk)}).status_code == 201


def test_a_meeting_in_the_future_cannot_be_self_reported(ehr_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    tomorrow = (timezone.now() + datetime.timedelta(days=2)).date().isoformat()
    response = ehr_a.api.post(
        "/api/v1/outside-meetings/", {"patient": str(patient.pk), "kind": "smart", "date": tomorrow}
    )
    assert response.status_code == 400
    assert attrs(response) == {"date"}


def test_group_names_are_unique_within_a_clinic_only(ehr_a: Persona, ehr_b: Persona) -> None:
    assert ehr_a.api.post("/api/v1/support-groups/", {"name": "Monday AA", "kind": "twelve_step"}).status_code == 201
    assert attrs(ehr_a.api.post("/api/v1/support-groups/", {"name": "Monday AA", "kind": "peer"})) == {"name"}
    assert ehr_b.api.post("/api/v1/support-groups/", {"name": "Monday AA", "kind": "twelve_step"}).status_code == 201
