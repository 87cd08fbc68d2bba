"""Front desk's day in a real browser: check a patient in before the start, mark a no-show; and a
group session's attendance saved in one submit with one exception."""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from aftercare.models import Appointment, GroupAttendance, GroupMembership
from clinic.models import Role
from tests.aftercare.factories import AppointmentFactory, GroupSessionFactory, SupportGroupFactory
from tests.e2e.conftest import StaffLogin, Visit, check_page, off_the_loop, sign_in, staff_login
from tests.factories import ClinicFactory, MembershipFactory, PatientFactory


def a_zone_where_the_next_hours_are_today() -> str:
    """A clinic zone in which an hour ago and two hours ahead fall on the same local day, so the
    board shows both appointments whatever time the suite runs."""
    now = timezone.now()
    for zone in ("UTC", "Asia/Tokyo", "America/Chicago"):
        local = zoneinfo.ZoneInfo(zone)
        if (now - datetime.timedelta(hours=1)).astimezone(local).date() == (
            now + datetime.timedelta(hours=2)
        ).astimezone(local).date():
            return zone
    raise AssertionError("unreachable: the three zones are at least 6 hours apart")


@dataclass(frozen=True)
class FrontDeskDay:
    login: StaffLogin
    arriving: Any  # appointment id starting in 30 minutes
    arriving_name: str
    absent: Any  # appointment id that started 10 minutes ago
    absent_name: str


@pytest.fixture
def front_desk_day(transactional_db: None) -> FrontDeskDay:
    clinic = ClinicFactory.create(time_zone=a_zone_where_the_next_hours_are_today())
    desk = MembershipFactory.create(clinic=clinic, role=Role.FRONT_DESK, user__is_staff=False).user
    now = timezone.now().replace(second=0, microsecond=0)

    def book(starts_at: datetime.datetime) -> Appointment:
        return AppointmentFactory.create(
            clinic=clinic,
            patient=PatientFactory.create(clinic=clinic),
            starts_at=starts_at,
            ends_at=starts_at + datetime.timedelta(minutes=45),
        )

    arriving = book(now + datetime.timedelta(minutes=30))
    absent = book(now - datetime.timedelta(minutes=10))
    return FrontDeskDay(
        login=staff_login(desk),
        arriving=arriving.pk,
        arriving_name=f"{arriving.patient.given_name} {arriving.patient.family_name}",
        absent=absent.pk,
        absent_name=f"{absent.patient.given_name} {absent.patient.family_name}",
    )


def test_front_desk_checks_a_patient_in_before_the_start_and_marks_a_no_show(
    live_server: Any, front_desk_day: FrontDeskDay, browser_visit: Visit
) -> None:
    day = front_desk_day
    page = sign_in(browser_visit, live_server.url, day.login, next_path="/today/")
    assert page.url.startswith(f"{live_server.url}/today/")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Today")
    check_page(browser_visit)
    # Keyboard alone: Tab to the "Arrived" button of the patient due in 30 minutes, press Enter.
    target = f"Arrived: {day.arriving_name}"
    for _ in range(80):
        page.keyboard.press("Tab")
        if (page.evaluate("document.activeElement.getAttribute('aria-label')") or "").startswith(target):
            break
    else:
        raise AssertionError("the Arrived button is not reachable with the keyboard")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    assert f"{day.arriving_name}: arrived." in page.get_by_role("status").inner_text()
    check_page(browser_visit)
    arrived = off_the_loop(lambda: Appointment.objects.get(pk=day.arriving))
    assert arrived.arrived_at is not None
    assert arrived.attendance_status == "scheduled"
    # The other patient did not come: No-show, then the row offers Undo.
    with page.expect_navigation():
        page.get_by_role("button", name=f"No-show: {day.absent_name}").click()
    page.wait_for_load_state("networkidle")
    row = page.locator(f"#appointment-{day.absent}")
    assert "Missed (no-show)" in row.inner_text()
    assert row.get_by_role("button", name=f"Undo: {day.absent_name}").is_visible()
    check_page(browser_visit)
    absent = off_the_loop(lambda: Appointment.objects.get(pk=day.absent))
    assert absent.attendance_status == "missed"
    assert absent.attendance_recorded_by_id is not None
    # Within the undo window the one who marked it may also change it on the correction page.
    with page.expect_navigation():
        row.get_by_role("link", name=f"Change…: {day.absent_name}").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", level=1).inner_text() == "Change attendance"
    check_page(browser_visit)


@dataclass(frozen=True)
class GroupEvening:
    login: StaffLogin
    session: Any
    members: tuple[tuple[Any, str], ...]  # (patient id, name)


@pytest.fixture
def group_evening(transactional_db: None) -> GroupEvening:
    clinic = ClinicFactory.create()
    clinician = MembershipFactory.create(clinic=clinic, role=Role.CLINICIAN, user__is_staff=False).user
    group = SupportGroupFactory.create(clinic=clinic, name="Wednesday peer group")
    starts_at = timezone.now() - datetime.timedelta(hours=1)
    session = GroupSessionFactory.create(
        group=group, starts_at=starts_at, ends_at=starts_at + datetime.timedelta(hours=1)
    )
    members = []
    for _ in range(4):
        patient = PatientFactory.create(clinic=clinic)
        GroupMembership.objects.create(group=group, patient=patient, joined_on=datetime.date(2026, 1, 5))
        members.append((patient.pk, f"{patient.given_name} {patient.family_name}"))
    return GroupEvening(login=staff_login(clinician), session=session.pk, members=tuple(members))


def test_a_group_sessions_attendance_is_saved_in_one_submit_with_one_exception(
    live_server: Any, group_evening: GroupEvening, browser_visit: Visit
) -> None:
    evening = group_evening
    sign_in(browser_visit, live_server.url, evening.login, next_path="/groups/")
    page = browser_visit.page
    assert page.url == f"{live_server.url}/groups/"
    check_page(browser_visit)
    with page.expect_navigation():
        page.locator(f'a[href="/group-sessions/{evening.session}/"]').first.click()
    page.wait_for_load_state("networkidle")
    check_page(browser_visit)
    absent_id, absent_name = evening.members[1]
    page.get_by_label(f"Attendance of {absent_name}").select_option("missed")
    with page.expect_navigation():
        page.get_by_role("button", name="Save attendance").click()
    page.wait_for_load_state("networkidle")
    assert "Attendance saved for 4 members." in page.get_by_role("status").inner_text()
    check_page(browser_visit)
    saved = off_the_loop(
        lambda: dict(GroupAttendance.objects.filter(session_id=evening.session).values_list("patient_id", "status"))
    )
    assert saved == {pk: ("missed" if pk == absent_id else "attended") for pk, _name in evening.members}
