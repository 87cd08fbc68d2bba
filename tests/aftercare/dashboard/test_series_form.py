"""Booking a weekly series from weekday boxes and a time; recording outside meetings."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from pghistory.models import Events

from aftercare.dashboard.patients.series import weekly_rrule
from aftercare.models import Appointment, AppointmentSeries, OutsideMeeting
from aftercare.services.series import parse_rrule
from clinic.models import AccessEvent, Role
from tests.aftercare.factories import ActivityFactory, PlanFactory
from tests.factories import ClinicFactory, MembershipFactory, PatientFactory

StaffClient = Callable[..., tuple[Any, Any]]
NOW = datetime.datetime(2026, 12, 2, 15, 0, tzinfo=datetime.UTC)  # Wednesday, 09:00 in Chicago


def _url(patient: Any) -> str:
    return f"/patients/{patient.pk}/series/new/"


# --- The rule, built from the boxes -------------------------------------------------------------


def test_the_rule_lists_weekdays_in_calendar_order_once() -> None:
    assert weekly_rrule(["TH", "MO", "TH"]) == "FREQ=WEEKLY;BYDAY=MO,TH"


def test_the_rule_carries_an_interval_a_count_or_an_end_date() -> None:
    assert weekly_rrule(["WE"], interval=2, count=12) == "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE;COUNT=12"
    assert weekly_rrule(["SU"], until=datetime.date(2027, 3, 1)) == "FREQ=WEEKLY;BYDAY=SU;UNTIL=20270301"


def test_every_rule_built_is_one_the_series_service_accepts() -> None:
    days = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
    for n in range(1, 8):
        rule = weekly_rrule(days[:n], interval=n, count=n * 3)
        assert parse_rrule(rule)["BYDAY"] == ",".join(days[:n])
    assert parse_rrule(weekly_rrule(["FR"], until=datetime.date(2027, 1, 31)))["UNTIL"] == "20270131"


def test_no_weekday_or_both_ends_is_refused() -> None:
    with pytest.raises(ValueError, match="weekday"):
        weekly_rrule([])
    with pytest.raises(ValueError, match="not both"):
        weekly_rrule(["MO"], count=3, until=datetime.date(2027, 1, 1))


# --- The page -----------------------------------------------------------------------------------


def _form(clinician: Any, **fields: Any) -> dict[str, Any]:
    body = {
        "weekdays": ["MO", "TH"],
        "start_time": "18:00",
        "duration_minutes": "50",
        "starts_on": "2026-12-03",
        "interval": "1",
        "clinician": str(clinician.pk),
        "kind": "individual_therapy",
        "location": "Room 2",
    }
    body.update(fields)
    return body


def test_a_clinician_books_a_weekly_series_at_local_wall_clock_time(db: None, staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create(time_zone="America/Chicago")
    patient = PatientFactory.create(clinic=clinic)
    therapist = MembershipFactory.create(
        clinic=clinic, role=Role.CLINICIAN, user__first_name="Maya", user__last_name="Ortiz"
    ).user
    client, user = staff_client(clinic, Role.CLINICIAN)
    with time_machine.travel(NOW, tick=False):
        page = client.get(_url(patient)).content.decode()
        assert "Maya Ortiz" in page
        assert 'type="time"' in page
        assert 'type="checkbox"' in page
        assert "FREQ=" not in page
        response = client.post(_url(patient), _form(therapist, count="4"))
    assert response.status_code == 302
    series = AppointmentSeries.objects.get(patient=patient)
    assert series.rrule == "FREQ=WEEKLY;BYDAY=MO,TH;COUNT=4"
    assert series.local_start_time == datetime.time(18, 0)
    assert series.time_zone == "America/Chicago"
    starts = list(Appointment.objects.filter(series=series).order_by("starts_at").values_list("starts_at", flat=True))
    assert len(starts) == 4
    assert {s.astimezone(clinic.zone).time() for s in starts} == {datetime.time(18, 0)}
    assert [s.astimezone(clinic.zone).strftime("%a") for s in starts] == ["Thu", "Mon", "Thu", "Mon"]
    event = AccessEvent.objects.get(user=user, object_type="dashboard.series", action="create")
    assert event.object_ids == [series.pk]
    insert = Events.objects.filter(pgh_obj_model="aftercare.AppointmentSeries", pgh_label="insert").get()
    assert insert.pgh_context["actor"] == f"user:{user.pk}"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"weekdays": []}, "weekdays", "Choose at least one weekday."),
        ({"ends_on": "2026-12-01"}, "ends_on", "Must not be before the first week."),
        ({"ends_on": "2027-01-01", "count": "3"}, "count", "not both"),
        ({"start_time": "25:00"}, "start_time", "Enter a valid time."),
        ({"duration_minutes": "2"}, "duration_minutes", "greater than or equal to 5"),
    ],
)
def test_bad_input_is_named_next_to_its_field_and_books_nothing(
    db: None, staff_client: StaffClient, fields: dict[str, Any], field: str, message: str
) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic)
    client, user = staff_client(clinic, Role.CLINICIAN)
    with time_machine.travel(NOW, tick=False):
        response = client.post(_url(patient), _form(user, **fields))
    assert response.status_code == 200
    page = response.content.decode()
    assert f'id="id_{field}_error"' in page
    assert message in page
    assert not AppointmentSeries.objects.filter(patient=patient).exists()


def test_a_clinician_of_another_clinic_is_not_in_the_list(db: None, staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic)
    stranger = MembershipFactory.create(role=Role.CLINICIAN).user
    client, _ = staff_client(clinic, Role.CLINICIAN)
    response = client.post(_url(patient), _form(stranger))
    assert response.status_code == 200
    assert 'id="id_clinician_error"' in response.content.decode()
    assert not AppointmentSeries.objects.exists()


def test_a_plan_activity_of_the_patient_can_be_named_but_front_desk_never_sees_them(
    db: None, staff_client: StaffClient
) -> None:
    clinic = ClinicFactory.create()
    plan = PlanFactory.create(patient=PatientFactory.create(clinic=clinic))
    activity = ActivityFactory.create(plan=plan, kind="medication", medication="methadone", provider="Dr Dose")
    clinician, user = staff_client(clinic, Role.CLINICIAN)
    assert "Dr Dose" in clinician.get(_url(plan.patient)).content.decode()
    with time_machine.travel(NOW, tick=False):
        response = clinician.post(
            _url(plan.patient), _form(user, kind="medication", activity=str(activity.pk), count="2")
        )
    assert response.status_code == 302
    assert AppointmentSeries.objects.get(patient=plan.patient).activity == activity
    front_desk, _ = staff_client(clinic, Role.FRONT_DESK)
    page = front_desk.get(_url(plan.patient)).content.decode()
    assert "Dr Dose" not in page
    assert "Plan activity" not in page
    with time_machine.travel(NOW, tick=False):
        booked = front_desk.post(_url(plan.patient), _form(user, weekdays=["FR"], count="1"))
    assert booked.status_code == 302


def test_roles_without_scheduling_may_not_book(db: None, staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic)
    client, user = staff_client(clinic, Role.AUDITOR)
    assert client.get(_url(patient)).status_code == 403
    assert client.post(_url(patient), _form(user)).status_code == 403
    assert not AppointmentSeries.objects.exists()
    assert AccessEvent.objects.filter(user=user, action="denied", object_type="dashboard.series").count() == 2


def test_another_clinics_patient_is_a_404_page_and_a_denied_event(db: None, staff_client: StaffClient) -> None:
    patient = PatientFactory.create()
    client, user = staff_client(ClinicFactory.create(), Role.CLINICIAN)
    assert client.get(_url(patient)).status_code == 404
    assert client.post(_url(patient), _form(user)).status_code == 404
    assert AccessEvent.objects.filter(user=user, action="denied", object_type="dashboard.series").count() == 2


def test_the_form_costs_the_same_queries_with_2_or_30_clinicians(
    db: None, staff_client: StaffClient, django_assert_max_num_queries: Any
) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic)
    client, _ = staff_client(clinic, Role.CLINICIAN)
    client.get(_url(patient))
    with django_assert_max_num_queries(10):
        assert client.get(_url(patient)).status_code == 200
    for _ in range(30):
        MembershipFactory.create(clinic=clinic, role=Role.CLINICIAN)
    with django_assert_max_num_queries(10):
        assert client.get(_url(patient)).status_code == 200


# --- Outside meetings ---------------------------------------------------------------------------


def _meeting_url(patient: Any) -> str:
    return f"/patients/{patient.pk}/outside-meetings/new/"


def test_front_desk_records_an_outside_meeting(db: None, staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic)
    client, user = staff_client(clinic, Role.FRONT_DESK)
    with time_machine.travel(NOW, tick=False):
        assert client.get(_meeting_url(patient)).status_code == 200
        response = client.post(_meeting_url(patient), {"date": "2026-11-30", "kind": "twelve_step", "note": "NA"})
    assert response.status_code == 302
    meeting = OutsideMeeting.objects.get(patient=patient)
    assert (meeting.date, meeting.kind, meeting.note) == (datetime.date(2026, 11, 30), "twelve_step", "NA")
    assert AccessEvent.objects.get(user=user, object_type="dashboard.outside_meeting", action="create").object_ids == [
        meeting.pk
    ]


def test_a_meeting_in_the_future_is_refused_next_to_the_date(db: None, staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic)
    client, _ = staff_client(clinic, Role.CLINICIAN)
    with time_machine.travel(NOW, tick=False):
        response = client.post(_meeting_url(patient), {"date": "2026-12-05", "kind": "smart"})
    assert response.status_code == 200
    assert 'id="id_date_error"' in response.content.decode()
    assert not OutsideMeeting.objects.exists()


def test_outside_meetings_are_refused_to_the_auditor_and_to_another_clinic(db: None, staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic)
    auditor, _ = staff_client(clinic, Role.AUDITOR)
    assert auditor.post(_meeting_url(patient), {"date": "2026-11-30", "kind": "smart"}).status_code == 403
    stranger, user = staff_client(ClinicFactory.create(), Role.CLINICIAN)
    assert stranger.get(_meeting_url(patient)).status_code == 404
    assert AccessEvent.objects.get(user=user, object_type="dashboard.outside_meeting").action == "denied"
    assert not OutsideMeeting.objects.exists()


def test_the_service_refusal_is_shown_not_raised(db: None) -> None:
    from aftercare.dashboard.patients.common import service_errors
    from aftercare.dashboard.patients.outside import OutsideMeetingForm

    form = OutsideMeetingForm({"date": "2026-11-30", "kind": "smart"})
    assert form.is_valid()
    service_errors(form, ValidationError({"date": "Nope.", "__all__": "Whole form."}))
    assert form.errors["date"] == ["Nope."]
    assert form.non_field_errors() == ["Whole form."]
