"""The check-in section of the patient page: the last 8 answers as a trend table, the next one due,
the opt-out; for staff who hold `checkins:read`, never front desk."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import Any

from django.utils import timezone

from aftercare.checkins.instrument import Answers
from aftercare.models import AftercarePlan, CheckIn, CheckInStatus
from aftercare.services.checkins import checkin_answer
from clinic.models import Patient, Role
from tests.aftercare.factories import PlanFactory
from tests.factories import ClinicFactory, PatientFactory

StaffClient = Callable[..., tuple[Any, Any]]


def answered(patient: Patient, plan: AftercarePlan, *, weeks_ago: int, craving: int) -> CheckIn:
    at = timezone.now() - datetime.timedelta(weeks=weeks_ago)
    checkin = CheckIn.objects.create(
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
    checkin_answer(
        checkin_id=checkin.pk,
        answers=Answers(weeks_ago % 8, craving, 1, 2, 3, 4, 4 - craving, 2, 1, wants_call=weeks_ago == 1),
        now=at + datetime.timedelta(hours=1),
    )
    return checkin


def section(page: str) -> str:
    match = re.search(r'<section class="panel" aria-labelledby="checkins-heading">.*?</section>', page, re.S)
    assert match is not None, "no check-in section"
    return match.group()


def test_care_staff_see_the_last_eight_answers_oldest_first_and_the_next_one_due(
    db: None, staff_client: StaffClient
) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic, checkins_opt_in=True)
    plan = PlanFactory.create(patient=patient, checkin_every_days=7)
    for weeks_ago in range(10, 0, -1):
        answered(patient, plan, weeks_ago=weeks_ago, craving=weeks_ago % 5)

    for role in (Role.CLINICIAN, Role.CASE_MANAGER, Role.ADMIN, Role.AUDITOR):
        client, _ = staff_client(clinic, role)
        response = client.get(f"/patients/{patient.pk}/")
        assert response.status_code == 200
        shown = section(response.content.decode())
        rows = re.findall(r"<tr><th scope=\"row\">.*?</tr>", shown)
        assert len(rows) == 8, role
        # Oldest first: 8 weeks ago (craving 3) down to last week (craving 1, asked for a call).
        assert "<td>3</td>" in rows[0]
        assert rows[-1].endswith("<td>Yes</td></tr>")
        assert all(row.endswith("<td>No</td></tr>") for row in rows[:-1])
        assert "<caption>" in shown
        assert "Opted in" in shown
        due = timezone.now().date() - datetime.timedelta(weeks=1) + datetime.timedelta(days=7)
        assert f"Due {due:%-d %b %Y}" in shown


def test_the_section_says_when_the_patient_opted_out_and_that_none_is_planned(
    db: None, staff_client: StaffClient
) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic, checkins_opt_in=False)
    PlanFactory.create(patient=patient)
    client, _ = staff_client(clinic, Role.CLINICIAN)

    shown = section(client.get(f"/patients/{patient.pk}/").content.decode())

    assert "Opted out" in shown
    assert "None planned" in shown
    assert "No answered check-ins." in shown


def test_an_open_checkin_is_shown_as_the_next_one(db: None, staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic, checkins_opt_in=True)
    plan = PlanFactory.create(patient=patient)
    now = timezone.now()
    CheckIn.objects.create(
        clinic=clinic, patient=patient, plan=plan, due_on=now.date(), send_at=now,
        status=CheckInStatus.SENT, attempts=1, sent_at=now, expires_at=now + datetime.timedelta(hours=72),
    )  # fmt: skip
    client, _ = staff_client(clinic, Role.CLINICIAN)

    shown = section(client.get(f"/patients/{patient.pk}/").content.decode())

    assert "Sent (waiting for an answer), due" in shown


def test_front_desk_sees_none_of_it(db: None, staff_client: StaffClient) -> None:
    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic, checkins_opt_in=True)
    plan = PlanFactory.create(patient=patient)
    answered(patient, plan, weeks_ago=1, craving=4)
    client, _ = staff_client(clinic, Role.FRONT_DESK)

    page = client.get(f"/patients/{patient.pk}/").content.decode()

    assert "checkins-heading" not in page
    assert "Check-ins" not in page
    assert "Craving" not in page


def test_another_clinics_patient_shows_no_section_but_the_404_page(db: None, staff_client: StaffClient) -> None:
    clinic, other = ClinicFactory.create(), ClinicFactory.create()
    patient = PatientFactory.create(clinic=other, checkins_opt_in=True)
    answered(patient, PlanFactory.create(patient=patient), weeks_ago=1, craving=2)
    client, _ = staff_client(clinic, Role.CLINICIAN)

    response = client.get(f"/patients/{patient.pk}/")

    assert response.status_code == 404
    assert "checkins-heading" not in response.content.decode()


def test_the_plan_form_sets_how_often_check_ins_go_and_names_a_bad_interval(
    db: None, staff_client: StaffClient
) -> None:
    from tests.aftercare.dashboard.test_plan_form import _body

    clinic = ClinicFactory.create()
    patient = PatientFactory.create(clinic=clinic)
    plan = PlanFactory.create(patient=patient)
    client, _ = staff_client(clinic, Role.CLINICIAN)
    url = f"/patients/{patient.pk}/plan/"
    assert 'name="checkin_every_days" value="7"' in client.get(url).content.decode()

    saved = client.post(url, _body(checkin_every_days="14"))
    kept = client.post(url, _body())
    refused = client.post(url, _body(checkin_every_days="91"))

    assert saved.status_code == 302
    assert kept.status_code == 302
    assert refused.status_code == 200
    assert "Ensure this value is less than or equal to 90." in refused.content.decode()
    plan.refresh_from_db()
    assert plan.checkin_every_days == 14
    assert 'name="checkin_every_days" value="14"' in client.get(url).content.decode()
    auditor, _ = staff_client(clinic, Role.AUDITOR)  # reads the plan, without the form
    assert "<dt>Check-ins</dt><dd>Every 14 days</dd>" in auditor.get(url).content.decode()
