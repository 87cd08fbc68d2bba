"""The Today board: today's appointments and group sessions, one button per mark, check-in,
undo within a few minutes, a reason after that; front desk sees no clinical detail."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from aftercare.models import ActivityKind, Appointment, AttendanceStatus
from clinic.models import AccessAction, AccessEvent, Clinic, Role, User
from tests.aftercare.factories import AppointmentFactory, GroupSessionFactory, SupportGroupFactory, latest_change
from tests.factories import ClinicFactory, MembershipFactory, PatientFactory

StaffClient = Callable[..., tuple[Client, User]]


@pytest.fixture
def clinic(db: None) -> Clinic:
    # UTC keeps "today" the same day as the test's clock, whatever hour the suite runs at.
    return ClinicFactory.create(time_zone="UTC")


def noon_today() -> datetime.datetime:
    now = timezone.now()
    return now.replace(hour=12, minute=0, second=0, microsecond=0)


def book(clinic: Clinic, starts_at: datetime.datetime, clinician: User | None = None, **fields: Any) -> Appointment:
    patient = PatientFactory.create(clinic=clinic)
    extra = {"clinician": clinician} if clinician is not None else {}
    return AppointmentFactory.create(
        clinic=clinic,
        patient=patient,
        starts_at=starts_at,
        ends_at=starts_at + datetime.timedelta(minutes=30),
        **extra,
        **fields,
    )


def now_plus(minutes: int) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(minutes=minutes)


def today_slot(minutes_from_now: int) -> datetime.datetime:
    """A time today (UTC) `minutes_from_now` away, folded back into today near midnight."""
    moment = now_plus(minutes_from_now)
    if moment.date() != timezone.now().date():
        moment = timezone.now().replace(hour=0, minute=30, second=0, microsecond=0)
    return moment


def name(appointment: Appointment) -> str:
    return f"{appointment.patient.given_name} {appointment.patient.family_name}"


def test_the_board_lists_todays_appointments_by_local_time_with_names(
    staff_client: StaffClient, clinic: Clinic
) -> None:
    client, user = staff_client(clinic, Role.CLINICIAN)
    later = book(clinic, noon_today() + datetime.timedelta(hours=3), clinician=user, location="Room 4")
    earlier = book(clinic, noon_today() - datetime.timedelta(hours=3), clinician=user)
    yesterday = book(clinic, noon_today() - datetime.timedelta(days=1), clinician=user)
    page = client.get("/today/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.index(name(earlier)) < html.index(name(later))
    assert name(yesterday) not in html
    assert "Room 4" in html
    assert later.starts_at.strftime("%H:%M") in html
    assert str(later.patient_id) not in html.replace(f"/patients/{later.patient_id}/", "")


def test_the_board_shows_times_in_the_clinics_time_zone(staff_client: StaffClient, db: None) -> None:
    clinic = ClinicFactory.create(time_zone="Asia/Tokyo")
    client, user = staff_client(clinic, Role.CLINICIAN)
    tokyo_now = timezone.localtime(timezone.now(), clinic.zone)
    local_noon = tokyo_now.replace(hour=12, minute=0, second=0, microsecond=0)
    book(clinic, local_noon, clinician=user)
    html = client.get("/today/").content.decode()
    assert "12:00\u201312:30" in html  # an en dash between the times


def test_mine_shows_only_my_appointments_and_whole_clinic_shows_all(staff_client: StaffClient, clinic: Clinic) -> None:
    client, user = staff_client(clinic, Role.CLINICIAN)
    mine = book(clinic, noon_today(), clinician=user)
    theirs = book(clinic, noon_today() + datetime.timedelta(hours=1))
    default = client.get("/today/").content.decode()
    assert name(mine) in default
    assert name(theirs) not in default
    whole = client.get("/today/?who=all").content.decode()
    assert name(mine) in whole
    assert name(theirs) in whole


def test_the_board_lists_todays_group_sessions_with_a_roster_link(staff_client: StaffClient, clinic: Clinic) -> None:
    client, _ = staff_client(clinic, Role.FRONT_DESK)
    group = SupportGroupFactory.create(clinic=clinic, name="Thursday peers")
    session = GroupSessionFactory.create(
        group=group, starts_at=noon_today(), ends_at=noon_today() + datetime.timedelta(hours=1)
    )
    html = client.get("/today/").content.decode()
    assert "Thursday peers" in html
    assert f"/group-sessions/{session.pk}/" in html


def test_the_board_writes_one_list_event_naming_every_appointment_and_patient(
    staff_client: StaffClient, clinic: Clinic
) -> None:
    client, user = staff_client(clinic, Role.CLINICIAN)
    shown = [book(clinic, noon_today() + datetime.timedelta(hours=i), clinician=user) for i in range(3)]
    assert client.get("/today/").status_code == 200
    event = AccessEvent.objects.get(user=user, action=AccessAction.LIST)
    assert set(event.object_ids) == {a.pk for a in shown}
    assert set(event.patient_ids) == {a.patient_id for a in shown}


def test_front_desk_sees_no_clinical_detail(staff_client: StaffClient, clinic: Clinic) -> None:
    client, _ = staff_client(clinic, Role.FRONT_DESK)
    appointment = book(clinic, noon_today(), kind=ActivityKind.MEDICATION, location="Room 2")
    book(clinic, noon_today() + datetime.timedelta(hours=1), kind=ActivityKind.PSYCHIATRY)
    html = client.get("/today/").content.decode()
    assert name(appointment) in html
    assert appointment.clinician.last_name in html
    assert "Room 2" in html
    for clinical in ("Medication-assisted treatment", "Psychiatry", "medication", "Session</th>"):
        assert clinical not in html
    care, _ = staff_client(clinic, Role.CLINICIAN)
    assert "Medication-assisted treatment" in care.get("/today/?who=all").content.decode()


def test_an_auditor_reads_the_board_without_buttons_and_cannot_post(staff_client: StaffClient, clinic: Clinic) -> None:
    client, _ = staff_client(clinic, Role.AUDITOR)
    appointment = book(clinic, today_slot(-10))
    html = client.get("/today/").content.decode()
    assert name(appointment) in html
    assert 'action="/today/appointments/' not in html
    assert 'name="status"' not in html
    assert "Change…" not in html
    response = client.post(f"/today/appointments/{appointment.pk}/mark/", {"status": "attended"})
    assert response.status_code == 403
    assert client.post(f"/today/appointments/{appointment.pk}/arrive/").status_code == 403
    assert Appointment.objects.get(pk=appointment.pk).attendance_status == AttendanceStatus.SCHEDULED
    assert AccessEvent.objects.filter(action=AccessAction.DENIED, object_ids__contains=[appointment.pk]).count() == 2


def test_a_button_records_attendance_through_the_service_with_the_staff_member_in_the_history(
    staff_client: StaffClient, clinic: Clinic
) -> None:
    client, user = staff_client(clinic, Role.FRONT_DESK)
    appointment = book(clinic, today_slot(-10))
    response = client.post(f"/today/appointments/{appointment.pk}/mark/", {"status": "missed", "who": "all"})
    assert response.status_code == 302
    assert response["Location"] == f"/today/?who=all#appointment-{appointment.pk}"
    appointment.refresh_from_db()
    assert (appointment.attendance_status, appointment.attendance_recorded_by) == ("missed", user)
    change = latest_change(appointment)
    assert change.pgh_context.metadata["actor"].endswith(str(user.pk))
    assert AccessEvent.objects.filter(user=user, action=AccessAction.UPDATE, object_ids=[appointment.pk]).exists()
    page = client.get("/today/").content.decode()
    assert "Undo" in page
    assert "No-show" not in page.split(f'id="appointment-{appointment.pk}"')[1].split("</tr>")[0]


def test_undo_within_the_window_then_a_change_asks_for_a_reason(staff_client: StaffClient, clinic: Clinic) -> None:
    client, _ = staff_client(clinic, Role.CLINICIAN)
    appointment = book(clinic, today_slot(-10))
    url = f"/today/appointments/{appointment.pk}/mark/"
    client.post(url, {"status": "missed", "who": "all"})
    undone = client.post(url, {"status": "scheduled", "who": "all"})
    assert undone.status_code == 302
    assert Appointment.objects.get(pk=appointment.pk).attendance_status == "scheduled"
    client.post(url, {"status": "missed", "who": "all"})
    Appointment.objects.filter(pk=appointment.pk).update(
        attendance_recorded_at=timezone.now() - datetime.timedelta(hours=1)
    )
    board = client.get("/today/?who=all").content.decode()
    row = board.split(f'id="appointment-{appointment.pk}"')[1].split("</tr>")[0]
    assert "Undo" not in row
    assert "Change…" in row
    late = client.post(url, {"status": "attended", "who": "all"})
    assert late.status_code == 302
    assert late["Location"].startswith(f"/today/appointments/{appointment.pk}/correct/?status=attended")
    form = client.get(late["Location"])
    assert form.status_code == 200
    assert 'name="reason"' in form.content.decode()
    no_reason = client.post(late["Location"], {"status": "attended", "reason": "", "who": "all"})
    assert no_reason.status_code == 200  # the form again, with the error by its field
    assert "Say why" in no_reason.content.decode()
    ok = client.post(late["Location"], {"status": "attended", "reason": "Was in the waiting room", "who": "all"})
    assert ok.status_code == 302
    appointment.refresh_from_db()
    assert appointment.attendance_status == "attended"
    last = appointment.attendance_history.last()
    assert last is not None
    assert last.reason == "Was in the waiting room"


def test_front_desk_cannot_correct_after_the_undo_window(staff_client: StaffClient, clinic: Clinic) -> None:
    client, _ = staff_client(clinic, Role.FRONT_DESK)
    appointment = book(clinic, today_slot(-10))
    client.post(f"/today/appointments/{appointment.pk}/mark/", {"status": "attended"})
    Appointment.objects.filter(pk=appointment.pk).update(
        attendance_recorded_at=timezone.now() - datetime.timedelta(hours=1)
    )
    row = client.get("/today/").content.decode().split(f'id="appointment-{appointment.pk}"')[1].split("</tr>")[0]
    assert "Change…" not in row
    assert "A clinician can correct this" in row
    assert client.get(f"/today/appointments/{appointment.pk}/correct/").status_code == 403
    refused = client.post(f"/today/appointments/{appointment.pk}/mark/", {"status": "missed", "reason": "Wrong row"})
    assert refused.status_code == 403
    assert Appointment.objects.get(pk=appointment.pk).attendance_status == "attended"


def test_check_in_opens_before_the_start_and_is_not_attendance(staff_client: StaffClient, clinic: Clinic) -> None:
    client, user = staff_client(clinic, Role.FRONT_DESK)
    soon = book(clinic, now_plus(30))
    far = book(clinic, now_plus(90))
    board = client.get("/today/").content.decode()
    soon_row = (
        board.split(f'id="appointment-{soon.pk}"')[1].split("</tr>")[0]
        if soon.starts_at.date() == timezone.now().date()
        else ""
    )
    if soon_row:
        assert "Arrived" in soon_row
        assert "No-show" not in soon_row
    assert client.post(f"/today/appointments/{soon.pk}/arrive/").status_code == 302
    soon.refresh_from_db()
    assert soon.arrived_by == user
    assert soon.attendance_status == "scheduled"
    early = client.post(f"/today/appointments/{far.pk}/arrive/", follow=True)
    assert "Check-in opens at" in early.content.decode()
    assert Appointment.objects.get(pk=far.pk).arrived_at is None


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.FRONT_DESK, Role.AUDITOR])
def test_another_clinics_appointment_is_a_404_page_and_denied(
    staff_client: StaffClient, clinic: Clinic, role: str
) -> None:
    client, user = staff_client(clinic, role)
    other = book(ClinicFactory.create(), today_slot(-10))
    for path in ("mark/", "arrive/"):
        response = client.post(f"/today/appointments/{other.pk}/{path}", {"status": "missed"})
        assert response.status_code == (404 if role != Role.AUDITOR else 403)
    if role != Role.AUDITOR:
        assert client.get(f"/today/appointments/{other.pk}/correct/").status_code == 404
    assert Appointment.objects.get(pk=other.pk).attendance_status == "scheduled"
    assert AccessEvent.objects.filter(user=user, action=AccessAction.DENIED, object_ids=[other.pk]).exists()
    assert name(other) not in client.get("/today/?who=all").content.decode()


def test_a_signed_out_visitor_is_sent_to_sign_in(client: Client, db: None) -> None:
    response = client.get("/today/")
    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in/?next=/today/")


def test_the_board_costs_the_same_queries_for_3_and_60_appointments(
    staff_client: StaffClient, clinic: Clinic, django_assert_num_queries: Any
) -> None:
    client, _user = staff_client(clinic, Role.CLINICIAN)
    desk = MembershipFactory.create(clinic=clinic, role=Role.FRONT_DESK).user

    def fill(count: int) -> None:
        for i in range(count):
            # Each with a clinician of its own: a clinician is never double-booked.
            appointment = book(clinic, noon_today() - datetime.timedelta(hours=11) + datetime.timedelta(minutes=10 * i))
            if i % 3 == 0:
                Appointment.objects.filter(pk=appointment.pk).update(
                    attendance_status="attended",
                    attendance_recorded_by=desk,
                    attendance_recorded_at=timezone.now(),
                    arrived_at=timezone.now(),
                    arrived_by=desk,
                )
        GroupSessionFactory.create(group=SupportGroupFactory.create(clinic=clinic), starts_at=noon_today())

    def count() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert client.get("/today/?who=all").status_code == 200
        return len(queries)

    fill(3)
    few = count()
    fill(57)
    assert Appointment.objects.filter(clinic=clinic).count() == 60
    with django_assert_num_queries(few):
        assert client.get("/today/?who=all").status_code == 200
