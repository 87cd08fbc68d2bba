"""The check-in page on a phone, in a real browser under the CSP: axe-core finds nothing serious,
a missing answer is named and the form comes back with the others kept, the answers are stored;
and the check-in section of the patient page in the dashboard."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from aftercare.checkins.instrument import Answers
from aftercare.checkins.links import checkin_url
from aftercare.models import CheckIn, CheckInResponse, CheckInStatus
from aftercare.services.checkins import checkin_answer
from clinic.models import Role
from tests.aftercare.factories import PlanFactory
from tests.e2e.conftest import (
    StaffLogin,
    Visit,
    accessibility_problems,
    check_page,
    off_the_loop,
    sign_in,
    staff_login,
)
from tests.factories import ClinicFactory, MembershipFactory, PatientFactory

PHONE = {"width": 375, "height": 740}


def _sent(patient: Any, plan: Any, at: datetime.datetime) -> CheckIn:
    return CheckIn.objects.create(
        clinic=patient.clinic,
        patient=patient,
        plan=plan,
        due_on=at.date(),
        send_at=at,
        status=CheckInStatus.SENT,
        attempts=1,
        sent_at=at,
        expires_at=at + datetime.timedelta(hours=72),
    )


@pytest.fixture
def checkin_path(transactional_db: None) -> tuple[str, Any]:
    # Committed for the live server's thread, before the browser starts (see `browser_visit`).
    clinic = ClinicFactory.create(display_name="Riverbend Health")
    patient = PatientFactory.create(clinic=clinic, checkins_opt_in=True)
    checkin = _sent(patient, PlanFactory.create(patient=patient), timezone.now())
    return checkin_url(checkin.pk).removeprefix(settings.AFTERCARE_PUBLIC_URL), checkin.pk


def test_a_patient_answers_on_a_phone_with_a_missing_answer_named_first(
    live_server: Any, checkin_path: tuple[str, Any], browser_visit: Visit
) -> None:
    path, checkin_id = checkin_path
    page = browser_visit.page
    page.set_viewport_size(PHONE)

    response = browser_visit.open(f"{live_server.url}{path}")
    assert response.status == 200
    assert "style-src 'self'" in response.headers["content-security-policy"]
    assert page.get_by_role("heading", level=1).inner_text() == "A quick check-in from Riverbend Health"
    assert page.locator("fieldset").count() == 9
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the page scrolls sideways on a phone"
    check_page(browser_visit)

    # Everything but craving, by label as a patient taps them.
    page.get_by_role("group", name="On how many of the past 7 days did you drink or use?").get_by_label("0").check()
    for name, label in (
        ("trouble falling or staying asleep", "2"),
        ("low or depressed", "1"),
        ("anxious or worried", "3"),
        ("angry or irritable", "0"),
        ("will not drink or use", "3 · Considerably"),
        ("support did you get", "4 · Extremely"),
        ("self-help or support meeting", "2"),
    ):
        page.get_by_role("group", name=name).get_by_label(label, exact=True).check()
    page.get_by_label("I would like someone from the clinic to call me").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Send my answers").click()

    assert page.get_by_role("alert").is_visible()
    assert "Please answer: In the past 7 days, how much were you bothered by urges" in page.content()
    assert page.get_by_role("group", name="self-help or support meeting").get_by_label("2").is_checked()
    assert page.get_by_label("I would like someone from the clinic to call me").is_checked()
    assert off_the_loop(lambda: CheckInResponse.objects.filter(checkin_id=checkin_id).exists()) is False
    check_page(browser_visit)

    page.get_by_role("group", name="bothered by urges").get_by_label("1 · Slightly").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Send my answers").click()

    assert page.get_by_role("heading", level=1).inner_text() == "Thank you"
    assert "Someone from Riverbend Health will call you." in page.content()
    check_page(browser_visit)
    stored = off_the_loop(lambda: CheckInResponse.objects.get(checkin_id=checkin_id))
    assert (stored.use_days, stored.craving, stored.confidence, stored.wants_call) == (0, 1, 3, True)

    # The link is used: a second visit is the closed page (410: the browser logs that status, and
    # nothing else), as accessible as the rest.
    again = browser_visit.open(f"{live_server.url}{path}")
    assert again.status == 410
    assert page.get_by_role("heading", level=1).inner_text().startswith("This check-in is closed")
    problems = browser_visit.problems()
    assert len(problems) == 1
    assert "status of 410" in problems[0]
    assert accessibility_problems(page) == []


@dataclass(frozen=True)
class Scene:
    login: StaffLogin
    patient_id: Any


@pytest.fixture
def scene(transactional_db: None) -> Scene:
    clinic = ClinicFactory.create(time_zone="America/Chicago")
    clinician = MembershipFactory.create(clinic=clinic, role=Role.CLINICIAN, user__is_staff=False).user
    patient = PatientFactory.create(clinic=clinic, checkins_opt_in=True, assigned_clinician=clinician)
    plan = PlanFactory.create(patient=patient, created_by=clinician)
    now = timezone.now()
    for weeks_ago in (3, 2, 1):
        at = now - datetime.timedelta(weeks=weeks_ago)
        checkin = _sent(patient, plan, at)
        answers = Answers(0, weeks_ago, 1, 2, 1, 0, 4 - weeks_ago, 3, 2, wants_call=weeks_ago == 1)
        checkin_answer(checkin_id=checkin.pk, answers=answers, now=at + datetime.timedelta(hours=2))
    return Scene(staff_login(clinician), patient.pk)


def test_a_clinician_reads_the_checkin_trend_on_the_patient_page(
    live_server: Any, scene: Scene, browser_visit: Visit
) -> None:
    patient_path = f"/patients/{scene.patient_id}/"
    page = sign_in(browser_visit, live_server.url, scene.login, next_path=patient_path)

    heading = page.get_by_role("heading", name="Check-ins")
    assert heading.is_visible()
    table = page.locator("table.checkin-trend")
    assert table.locator("tbody tr").count() == 3
    assert table.locator("th[scope=col]", has_text="Craving").count() == 1
    assert table.locator("tbody tr").last.locator("td").last.inner_text() == "Yes"
    assert "Opted in" in page.content()
    check_page(browser_visit)
