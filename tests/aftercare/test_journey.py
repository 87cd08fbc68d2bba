"""What an EHR does through the API alone: a plan with every part, a weekly series, attendance,
a group session with bulk attendance, all read back; another clinic sees none of it."""

from __future__ import annotations

import datetime
from typing import Any

import time_machine

from aftercare.models import AftercarePlan, Appointment, AttendanceRecord
from clinic.models import Role
from tests.conftest import Persona

FULL_PLAN: dict[str, Any] = {
    "status": "active",
    "start_date": "2026-11-01",
    "goals": "Stay connected to care; return to work part time.",
    "warning_signs": ["Skipping meals", "Not answering my sponsor", "Sleeping past noon"],
    "triggers": [
        {"category": "stress", "description": "Deadlines at work"},
        {"category": "people_and_places", "description": "The bar on 5th street"},
        {"category": "celebrations"},
    ],
    "coping_strategies": ["Box breathing", "Journaling", "Call my sponsor"],
    "daily_routine": "Up at 7, walk, breakfast, work, evening meeting twice a week.",
    "emergency_plan": {
        "contacts": [{"name": "Maria (sister)", "relationship": "sister", "phone": "+1 312-555-0142"}],
        "where_to_go": "Crisis center, 200 W Lake St",
        "what_to_do": "Leave the situation, call Maria, then the crisis line 988.",
    },
    "support_persons": [{"name": "Tom", "relationship": "friend", "phone": "+1 312-555-0150"}],
    "sponsor": {"name": "Dave", "phone": "+1 312-555-0151"},
    "activities": [
        {"kind": "individual_therapy", "frequency_count": 1, "frequency_period": "week", "provider": "Dr. Lee"},
        {
            "kind": "medication",
            "medication": "buprenorphine",
            "dose_schedule": "16 mg daily",
            "medication_started_on": "2026-10-20",
            "frequency_count": 1,
            "frequency_period": "week",
        },
        {"kind": "support_group", "support_group_kind": "smart", "frequency_count": 2, "frequency_period": "week"},
        {"kind": "wellness", "wellness_kind": "yoga", "frequency_count": 3, "frequency_period": "week"},
        {"kind": "family_therapy", "frequency_count": 2, "frequency_period": "month"},
        {"kind": "art_therapy"},
        {"kind": "psychiatry", "frequency_count": 1, "frequency_period": "month"},
        {"kind": "case_management"},
        {"kind": "group_therapy"},
    ],
}


def test_a_client_runs_a_patients_aftercare_through_the_api(ehr_a: Persona, ehr_b: Persona, make_staff: Any) -> None:
    api = ehr_a.api
    clinician = make_staff(ehr_a.clinic, Role.CLINICIAN).user
    owned: list[str] = []

    with time_machine.travel(datetime.datetime(2026, 11, 2, 15, 0, tzinfo=datetime.UTC), tick=False):
        patient = api.post(
            "/api/v1/patients/",
            {"given_name": "Ana", "family_name": "Rivera", "date_of_birth": "1988-04-02", "intake_date": "2026-09-01"},
        ).json()
        owned.append(f"/api/v1/patients/{patient['id']}/")

        plan = api.post("/api/v1/plans/", {**FULL_PLAN, "patient": patient["id"]})
        assert plan.status_code == 201, plan.json()
        plan_body = plan.json()
        owned.append(f"/api/v1/plans/{plan_body['id']}/")
        for key in ("goals", "warning_signs", "coping_strategies", "daily_routine", "sponsor", "support_persons"):
            assert plan_body[key] == FULL_PLAN[key]
        assert plan_body["emergency_plan"] == FULL_PLAN["emergency_plan"]
        assert [t["category"] for t in plan_body["triggers"]] == ["stress", "people_and_places", "celebrations"]
        assert [a["kind"] for a in plan_body["activities"]] == [a["kind"] for a in FULL_PLAN["activities"]]
        therapy = plan_body["activities"][0]["id"]

        series = api.post(
            "/api/v1/appointment-series/",
            {
                "patient": patient["id"],
                "clinician": str(clinician.pk),
                "activity": therapy,
                "kind": "individual_therapy",
                "rrule": "FREQ=WEEKLY;BYDAY=TU;COUNT=6",
                "starts_on": "2026-11-03",
                "local_start_time": "18:00",
                "duration_minutes": 50,
            },
        )
        assert series.status_code == 201, series.json()
        owned.append(f"/api/v1/appointment-series/{series.json()['id']}/")

        group = api.post("/api/v1/support-groups/", {"name": "Tuesday SMART", "kind": "smart"}).json()
        owned.append(f"/api/v1/support-groups/{group['id']}/")
        assert api.post(f"/api/v1/support-groups/{group['id']}/members/", {"patient": patient["id"]}).status_code == 201
        session = api.post(
            "/api/v1/group-sessions/",
            {"group": group["id"], "starts_at": "2026-11-10T01:00:00Z", "ends_at": "2026-11-10T02:00:00Z"},
        ).json()
        owned.append(f"/api/v1/group-sessions/{session['id']}/")

    occurrences = api.get("/api/v1/appointments/", {"series": series.json()["id"], "ordering": "starts_at"}).json()
    assert len(occurrences["results"]) == 6
    first, second, third = (row["id"] for row in occurrences["results"][:3])
    owned.append(f"/api/v1/appointments/{first}/")

    with time_machine.travel(datetime.datetime(2026, 11, 18, 15, 0, tzinfo=datetime.UTC), tick=False):
        for appointment, status in ((first, "attended"), (second, "missed")):
            recorded = api.post(f"/api/v1/appointments/{appointment}/attendance/", {"status": status})
            assert recorded.status_code == 200, recorded.json()
            assert recorded.json()["attendance_status"] == status
        late = api.post(f"/api/v1/appointments/{third}/attendance/", {"status": "late_cancelled"})
        assert late.status_code == 200, late.json()

        other = api.post(
            "/api/v1/patients/",
            {"given_name": "Ben", "family_name": "Okafor", "date_of_birth": "1990-01-01", "intake_date": "2026-09-01"},
        ).json()
        bulk = api.post(
            f"/api/v1/group-sessions/{session['id']}/attendance/",
            {
                "attendance": [
                    {"patient": patient["id"], "status": "attended"},
                    {"patient": other["id"], "status": "missed"},
                ]
            },
        )
        assert bulk.status_code == 200, bulk.json()
        meeting = api.post(
            "/api/v1/outside-meetings/",
            {"patient": patient["id"], "kind": "twelve_step", "date": "2026-11-15", "note": "Sunday meeting"},
        )
        assert meeting.status_code == 201, meeting.json()
        owned.append(f"/api/v1/outside-meetings/{meeting.json()['id']}/")

    statuses = {
        row["id"]: row["attendance_status"]
        for row in api.get("/api/v1/appointments/", {"patient": patient["id"]}).json()["results"]
    }
    assert (statuses[first], statuses[second], statuses[third]) == ("attended", "missed", "late_cancelled")
    history = api.get(f"/api/v1/appointments/{second}/attendance/").json()["results"]
    assert [(h["previous_status"], h["status"]) for h in history] == [("scheduled", "missed")]
    sheet = {
        row["patient"]: row["status"]
        for row in api.get(f"/api/v1/group-sessions/{session['id']}/attendance/").json()["results"]
    }
    assert sheet == {patient["id"]: "attended", other["id"]: "missed"}
    plan_read = api.get(f"/api/v1/plans/{plan_body['id']}/").json()
    assert plan_read["emergency_plan"]["contacts"][0]["phone"] == "+1 312-555-0142"

    for url in owned:
        assert api.get(url).status_code == 200, url
        assert ehr_b.api.get(url).status_code == 404, url
        assert ehr_b.api.patch(url, {}).status_code in (404, 405), url
    for sub in (
        f"/api/v1/appointments/{first}/attendance/",
        f"/api/v1/group-sessions/{session['id']}/attendance/",
        f"/api/v1/support-groups/{group['id']}/members/",
    ):
        assert ehr_b.api.get(sub).status_code == 404, sub
        assert ehr_b.api.post(sub, {"status": "attended"}).status_code == 404, sub
    assert ehr_b.api.get("/api/v1/appointments/").json()["results"] == []
    assert AttendanceRecord.objects.count() == 3
    assert AftercarePlan.objects.count() == 1
    assert Appointment.objects.filter(attendance_status="scheduled").count() == 3
