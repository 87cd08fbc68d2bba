"""A clinician's day with a flag, in a real browser: sign in, open the flag queue, open the flag of
a patient who missed two sessions, read the evidence in words, log a call that went unanswered
(with a follow-up date), acknowledge the flag, then resolve it with a note. Every page passes the
accessibility and CSP checks, and the forms work from the keyboard."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import dateformat, timezone

from aftercare.models import Appointment, FlagStatus, OutreachAttempt, RiskFlag
from clinic.models import Role
from tests.aftercare.factories import PlanFactory
from tests.aftercare.test_flags_api import flagged
from tests.e2e.conftest import StaffLogin, Visit, check_page, off_the_loop, sign_in, staff_login
from tests.factories import ClinicFactory, MembershipFactory


@dataclass(frozen=True)
class Scene:
    login: StaffLogin
    flag_id: Any
    patient_name: str
    evidence: list[str]  # what the page must say, worked out from the data
    follow_up: datetime.date


@pytest.fixture
def scene(transactional_db: None) -> Scene:
    clinic = ClinicFactory.create(time_zone="America/Chicago")
    membership = MembershipFactory.create(
        clinic=clinic, role=Role.CLINICIAN, user__is_staff=False, user__first_name="Ana", user__last_name="Ruiz"
    )
    flag = flagged(clinic, clinician=membership.user)
    start = timezone.localdate() - datetime.timedelta(days=45)
    PlanFactory.create(patient=flag.patient, start_date=start)
    evidence = []
    for appointment in Appointment.objects.filter(patient=flag.patient, attendance_status="missed").order_by(
        "starts_at"
    ):
        local = appointment.starts_at.astimezone(clinic.zone)
        evidence.append(
            f"Missed individual therapy {dateformat.format(local, 'D j M H:i')}, day {(local.date() - start).days + 1}"
            " of the plan"
        )
    assert len(evidence) == 2
    return Scene(
        login=staff_login(membership.user),
        flag_id=flag.pk,
        patient_name=f"{flag.patient.given_name} {flag.patient.family_name}",
        evidence=evidence,
        follow_up=timezone.localdate(timezone=clinic.zone) + datetime.timedelta(days=2),
    )


def _submit_by_keyboard(page: Any, field: str, text: str) -> None:
    """Type into a box, Tab to the button that follows it, press Enter."""
    page.focus(field)
    page.keyboard.type(text)
    page.keyboard.press("Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")


def test_a_clinician_works_a_flag_from_the_queue_to_resolved(
    live_server: Any, scene: Scene, browser_visit: Visit
) -> None:
    page = sign_in(browser_visit, live_server.url, scene.login, next_path="/flags/")
    assert page.url == f"{live_server.url}/flags/"
    assert page.get_by_role("heading", level=1).inner_text() == "Flags"
    row = page.locator("tr", has_text=scene.patient_name)
    assert "Consecutive missed sessions" in row.inner_text()
    assert "Missed 2 in a row" in row.inner_text()
    check_page(browser_visit)

    with page.expect_navigation():
        row.get_by_role("link", name="Missed 2 in a row").click()
    page.wait_for_load_state("networkidle")
    flag_url = f"{live_server.url}/flags/{scene.flag_id}/"
    assert page.url == flag_url
    evidence = page.locator("ul.evidence").inner_text()
    for line in scene.evidence:
        assert line in evidence
    check_page(browser_visit)

    # A phone call nobody answered, to try again in two days.
    key = scene.flag_id
    page.select_option(f"#outreach-channel-{key}", "phone")
    page.select_option(f"#outreach-outcome-{key}", "no_answer")
    page.fill(f"#outreach-follow-up-{key}", scene.follow_up.isoformat())
    _submit_by_keyboard(page, f"#outreach-note-{key}", "Rang twice, no voicemail")
    assert page.url == flag_url
    log = page.locator("table.outreach-log").inner_text()
    assert "Phone call" in log
    assert "No answer" in log
    assert "Rang twice, no voicemail" in log
    assert "Ana Ruiz" in log
    check_page(browser_visit)

    _submit_by_keyboard(page, "#id_ack-note", "Calling again Friday")
    assert page.locator("dl.facts").inner_text().count("Acknowledged") >= 1
    assert "Ana Ruiz" in page.locator("dl.facts").inner_text()
    check_page(browser_visit)

    _submit_by_keyboard(page, "#id_close-note", "Reached her sister: back at group next week")
    facts = page.locator("dl.facts").inner_text()
    assert "Resolved" in facts
    assert "Reached her sister" in facts
    assert page.get_by_role("heading", name="Act on this flag").count() == 0
    check_page(browser_visit)

    def stored() -> tuple[str, str, int, Any]:
        flag = RiskFlag.objects.select_related("closed_by").get(pk=scene.flag_id)
        attempt = OutreachAttempt.objects.get(flag_id=scene.flag_id)
        return flag.status, flag.closed_by.username if flag.closed_by else "", flag.events.count(), attempt.follow_up_on

    status, closed_by, events, follow_up = off_the_loop(stored)
    assert (status, closed_by, follow_up) == (FlagStatus.RESOLVED, scene.login.username, scene.follow_up)
    assert events == 3  # raised, acknowledged, resolved


def test_the_queue_is_usable_from_the_keyboard(live_server: Any, scene: Scene, browser_visit: Visit) -> None:
    page = sign_in(browser_visit, live_server.url, scene.login, next_path="/flags/")
    page.focus("#id_severity")
    page.keyboard.press("Tab")  # to the next filter: the form is in reading order
    assert page.evaluate("document.activeElement.id") == "id_rule"
    page.select_option("#id_severity", "high")
    page.focus("button[type=submit] >> text=Show")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    assert "severity=high" in page.url
    assert "No flags match these filters." in page.content()
    check_page(browser_visit)


def test_a_refused_outreach_form_says_why_next_to_the_field(
    live_server: Any, scene: Scene, browser_visit: Visit
) -> None:
    page = sign_in(browser_visit, live_server.url, scene.login, next_path=f"/flags/{scene.flag_id}/")
    key = scene.flag_id
    page.fill(f"#outreach-attempted-at-{key}", "2199-01-01T10:00")
    with page.expect_navigation():
        page.click("button >> text=Log attempt")
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Log an outreach attempt")
    assert page.locator("#id_outreach-attempted_at_error").inner_text().endswith("An attempt cannot be in the future.")
    check_page(browser_visit)
    # Corrected and sent again from the keyboard, it lands back on the flag.
    page.fill("#id_outreach-attempted_at", "")
    page.select_option("#id_outreach-outcome", "reached")
    page.focus("#id_outreach-note")
    page.keyboard.type("Spoke to him")
    page.keyboard.press("Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    assert page.url == f"{live_server.url}/flags/{scene.flag_id}/"
    assert "Spoke to him" in page.locator("table.outreach-log").inner_text()


@pytest.fixture
def calm_neighbours(scene: Scene) -> list[str]:
    """Two more patients of the same clinician, with nothing wrong: the flagged one must come first."""
    from clinic.models import User
    from tests.factories import PatientFactory

    clinician = User.objects.get(username=scene.login.username)
    flag = RiskFlag.objects.select_related("patient").get(pk=scene.flag_id)
    patients = PatientFactory.create_batch(2, clinic=flag.patient.clinic, assigned_clinician=clinician)
    return [patient.family_name for patient in patients]


def test_the_clinicians_day_from_the_caseload_to_a_resolved_flag(
    live_server: Any, scene: Scene, calm_neighbours: list[str], browser_visit: Visit
) -> None:
    """The whole walk: sign in, the caseload most at risk first, the flagged patient's page, the
    flag's evidence in words, a call logged, the flag acknowledged and resolved."""
    base = live_server.url
    page = sign_in(browser_visit, base, scene.login)
    assert page.url == f"{base}/caseload/"
    rows = page.locator("table tbody tr")
    assert rows.count() == 3
    first = rows.first.inner_text()
    assert scene.patient_name.split()[-1] in first
    assert "High" in first or "Medium" in first
    assert "Missed 2 in a row" in first
    assert all(name not in first for name in calm_neighbours)
    check_page(browser_visit)

    with page.expect_navigation():
        rows.first.locator("a").first.click()
    page.wait_for_load_state("networkidle")
    assert "/patients/" in page.url
    check_page(browser_visit)

    with page.expect_navigation():
        page.locator(f"a[href='/flags/{scene.flag_id}/']").first.click()
    page.wait_for_load_state("networkidle")
    assert page.url == f"{base}/flags/{scene.flag_id}/"
    evidence = page.locator("ul.evidence").inner_text()
    assert all(line in evidence for line in scene.evidence)

    key = scene.flag_id
    page.select_option(f"#outreach-channel-{key}", "phone")
    page.select_option(f"#outreach-outcome-{key}", "left_message")
    _submit_by_keyboard(page, f"#outreach-note-{key}", "Left a message with the front desk number")
    assert "Left a message with the front desk number" in page.locator("table.outreach-log").inner_text()
    _submit_by_keyboard(page, "#id_ack-note", "On it")
    _submit_by_keyboard(page, "#id_close-note", "Called back, coming Thursday")
    assert "Resolved" in page.locator("dl.facts").inner_text()
    check_page(browser_visit)
    assert off_the_loop(lambda: RiskFlag.objects.get(pk=scene.flag_id).status) == FlagStatus.RESOLVED
