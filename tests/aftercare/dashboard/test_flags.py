"""The flag queue, a flag's page and the outreach log in the dashboard: what each role may see and
do, other clinics' flags as the 404 page, evidence in words, history with names, the access log,
the change history's actor, and query counts that do not grow with the rows."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import dateformat, timezone

from aftercare.models import (
    Appointment,
    FlagEventKind,
    FlagStatus,
    OutreachAttempt,
    OutreachChannel,
    OutreachOutcome,
    RiskFlag,
    RiskRule,
    Severity,
)
from aftercare.services.flags import flag_transition, flags_notify
from clinic.auth.caller import Caller
from clinic.auth.scopes import ROLE_SCOPES
from clinic.models import AccessAction, AccessEvent, Clinic, Patient, Role, User
from tests.aftercare.factories import PlanFactory
from tests.aftercare.test_flags_api import flagged
from tests.factories import ClinicFactory, PatientFactory, integration_client

StaffClient = Callable[..., tuple[Client, User]]


def _flags(clinic: Clinic, n: int, *, severity: str = Severity.MEDIUM, clinician: User | None = None) -> list[RiskFlag]:
    """`n` flags raised over the last days, each with an outreach attempt (no engine: quick)."""
    now = timezone.now()
    made = []
    for index in range(n):
        patient = PatientFactory.create(clinic=clinic, assigned_clinician=clinician)
        made.append(
            RiskFlag(
                clinic=clinic,
                patient=patient,
                rule=RiskRule.NO_CONTACT,
                severity=severity,
                raised_at=now - datetime.timedelta(days=1 + index % 60, minutes=index),
                evidence_updated_at=now,
            )
        )
    flags = RiskFlag.objects.bulk_create(made)
    OutreachAttempt.objects.bulk_create(
        OutreachAttempt(
            clinic=clinic,
            patient=flag.patient,
            flag=flag,
            channel=OutreachChannel.PHONE,
            outcome=OutreachOutcome.NO_ANSWER,
            attempted_at=now - datetime.timedelta(hours=1),
            follow_up_on=timezone.localdate() - datetime.timedelta(days=1),
            by_client=None,
            by=clinician or PatientFactory._meta.model.objects.none().first() or _someone(clinic),
        )
        for flag in flags
    )
    return flags


_SOMEONE: dict[Any, User] = {}


def _someone(clinic: Clinic) -> User:
    from tests.factories import MembershipFactory

    if clinic.pk not in _SOMEONE or not User.objects.filter(pk=_SOMEONE[clinic.pk].pk).exists():
        _SOMEONE[clinic.pk] = MembershipFactory.create(clinic=clinic, role=Role.CASE_MANAGER).user
    return _SOMEONE[clinic.pk]


def _events(**filters: Any) -> list[AccessEvent]:
    return list(AccessEvent.objects.filter(**filters).order_by("at"))


def _text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


# --- the queue ----------------------------------------------------------------------------------


def test_the_queue_lists_the_most_severe_first_then_the_oldest_with_the_reason_in_words(
    clinic_a: Clinic, staff_client: StaffClient
) -> None:
    client, _user = staff_client(clinic_a, Role.CLINICIAN)
    medium_old, medium_new = _flags(clinic_a, 2)
    medium_old.raised_at = timezone.now() - datetime.timedelta(days=20)
    medium_old.save()
    (high,) = _flags(clinic_a, 1, severity=Severity.HIGH)
    response = client.get("/flags/")
    assert response.status_code == 200
    rows = [flag.pk for flag in response.context["page"].object_list]
    assert rows == [high.pk, medium_old.pk, medium_new.pk]
    page = _text(response)
    assert f"{high.patient.given_name} {high.patient.family_name}" in page
    assert "No attended session on record" in page  # the reason, in words
    assert '<span class="chip high">High</span>' in page
    (event,) = _events(object_type="dashboard.flags")
    assert event.action == AccessAction.LIST
    assert set(event.object_ids) == {high.pk, medium_old.pk, medium_new.pk}
    assert set(event.patient_ids) == {high.patient_id, medium_old.patient_id, medium_new.patient_id}


def test_the_queue_filters_by_mine_severity_rule_status_and_age(clinic_a: Clinic, staff_client: StaffClient) -> None:
    client, user = staff_client(clinic_a, Role.CLINICIAN)
    (mine,) = _flags(clinic_a, 1, clinician=user)
    (theirs,) = _flags(clinic_a, 1, severity=Severity.HIGH)
    (old,) = _flags(clinic_a, 1)
    old.raised_at = timezone.now() - datetime.timedelta(days=120)
    old.rule = RiskRule.MISSED_IN_WINDOW
    old.save()
    (closed,) = _flags(clinic_a, 1)
    flag_transition(flag=closed, kind=FlagEventKind.RESOLVED, by=_caller(clinic_a, user), note="Reached, back on track")

    def shown(query: str) -> set[Any]:
        return {flag.pk for flag in client.get(f"/flags/?{query}").context["page"].object_list}

    assert shown("") == {mine.pk, theirs.pk, old.pk}  # open and acknowledged by default
    assert shown("whose=mine") == {mine.pk}
    assert shown("severity=high") == {theirs.pk}
    assert shown("rule=missed_in_window") == {old.pk}
    assert shown("status=resolved") == {closed.pk}
    assert shown("status=all") == {mine.pk, theirs.pk, old.pk, closed.pk}
    assert shown("age=30") == {mine.pk, theirs.pk}
    assert shown("age=older") == {old.pk}
    assert shown("severity=nonsense") == {mine.pk, theirs.pk, old.pk}  # a bad filter is ignored, never a 500


def test_the_queue_shows_the_last_attempt_and_an_overdue_follow_up(clinic_a: Clinic, staff_client: StaffClient) -> None:
    client, user = staff_client(clinic_a, Role.CASE_MANAGER)
    _overdue, fresh = _flags(clinic_a, 2)
    OutreachAttempt.objects.create(
        clinic=clinic_a,
        patient=fresh.patient,
        channel=OutreachChannel.TEXT,
        outcome=OutreachOutcome.REACHED,
        attempted_at=timezone.now() - datetime.timedelta(minutes=5),
        by=user,
    )  # logged on the patient, after the flag: it counts for the flag too
    page = _text(client.get("/flags/"))
    assert page.count("Follow-up overdue") == 1
    assert "Text message · Reached" in page
    assert "Phone call · No answer" in page


def test_the_queue_costs_the_same_queries_for_5_and_200_flags(
    clinic_a: Clinic, staff_client: StaffClient, django_assert_num_queries: Any
) -> None:
    client, _user = staff_client(clinic_a, Role.CLINICIAN)
    client.get("/flags/")  # the session and the clinic warm up
    _flags(clinic_a, 5)
    with django_assert_num_queries(QUEUE_QUERIES):
        assert len(client.get("/flags/").context["rows"]) == 5
    _flags(clinic_a, 195)
    with django_assert_num_queries(QUEUE_QUERIES):
        response = client.get("/flags/?page=2")
    assert len(response.context["rows"]) == 50
    assert "Page 2 of 4" in _text(response)


QUEUE_QUERIES = 8


# --- who may open what --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/flags/", "flag"])
def test_front_desk_never_opens_the_queue_or_a_flag(clinic_a: Clinic, staff_client: StaffClient, path: str) -> None:
    client, _user = staff_client(clinic_a, Role.FRONT_DESK)
    (flag,) = _flags(clinic_a, 1)
    url = f"/flags/{flag.pk}/" if path == "flag" else path
    response = client.get(url)
    assert response.status_code == 403
    assert flag.patient.family_name not in response.content.decode()
    assert _events(action=AccessAction.DENIED)[-1].status_code == 403
    assert client.post(f"/patients/{flag.patient_id}/outreach/", {}).status_code == 403


def test_another_clinics_flag_is_the_404_page_and_a_denied_event(clinic_a: Clinic, staff_client: StaffClient) -> None:
    client, _user = staff_client(clinic_a, Role.ADMIN)
    (foreign,) = _flags(ClinicFactory.create(), 1)
    # A name no generated one contains (the signed-in admin was once "Paul Smith", the patient a Smith).
    Patient.objects.filter(pk=foreign.patient_id).update(given_name="Zoltanne", family_name="Quillerby")
    foreign.refresh_from_db()
    for url, method in (
        (f"/flags/{foreign.pk}/", "get"),
        (f"/flags/{foreign.pk}/acknowledge/", "post"),
        (f"/flags/{foreign.pk}/close/", "post"),
        (f"/patients/{foreign.patient_id}/outreach/", "post"),
    ):
        response = getattr(client, method)(url, {"close-note": "x", "action": "resolve"})
        assert response.status_code == 404, url
        assert foreign.patient.family_name not in response.content.decode()
        event = _events(action=AccessAction.DENIED)[-1]
        assert event.status_code == 404
        assert event.clinic_id == clinic_a.pk
    foreign.refresh_from_db()
    assert foreign.status == FlagStatus.OPEN
    assert (
        not OutreachAttempt.objects.filter(patient=foreign.patient, by__isnull=False)
        .exclude(pk__in=OutreachAttempt.objects.filter(flag=foreign))
        .exists()
    )
    assert client.get("/flags/").context["rows"] == []  # another clinic's flags are never listed


def test_signed_out_the_queue_and_a_flag_send_to_sign_in_and_back(clinic_a: Clinic) -> None:
    (flag,) = _flags(clinic_a, 1)
    for path in ("/flags/", f"/flags/{flag.pk}/"):
        response = Client().get(path)
        assert response.status_code == 302
        assert response["Location"] == f"/sign-in/?next={path}"


# --- a flag's page ------------------------------------------------------------------------------


def _caller(clinic: Clinic, user: User, role: str = Role.CLINICIAN) -> Caller:
    return Caller(clinic=clinic, scopes=ROLE_SCOPES[role], user=user, role=role)


def test_a_flag_shows_each_piece_of_evidence_in_words_with_local_time_and_the_day_of_the_plan(
    clinic_a: Clinic, staff_client: StaffClient
) -> None:
    client, user = staff_client(clinic_a, Role.CLINICIAN)
    flag = flagged(clinic_a, clinician=user)
    start = timezone.localdate() - datetime.timedelta(days=40)
    PlanFactory.create(patient=flag.patient, start_date=start)
    response = client.get(f"/flags/{flag.pk}/")
    assert response.status_code == 200
    page = _text(response)
    missed = Appointment.objects.filter(patient=flag.patient, attendance_status="missed").order_by("starts_at")
    assert missed.count() == 2
    for appointment in missed:
        local = appointment.starts_at.astimezone(clinic_a.zone)
        day = (local.date() - start).days + 1
        assert f"Missed individual therapy {dateformat.format(local, 'D j M H:i')}, day {day} of the plan" in page
    assert "Still holds</dt><dd>Yes" in page.replace(" <", "<").replace("> ", ">")
    assert '<form method="post" action="/flags/' in page  # a clinician may act
    (event,) = _events(object_type="dashboard.flag")
    assert event.action == AccessAction.VIEW
    assert event.object_ids == [flag.pk]
    assert event.patient_ids == [flag.patient_id]


def test_a_clinician_acknowledges_then_resolves_and_the_history_names_them(
    clinic_a: Clinic, staff_client: StaffClient
) -> None:
    client, user = staff_client(clinic_a, Role.CLINICIAN, user__first_name="Ana", user__last_name="Ruiz")
    flag = flagged(clinic_a, clinician=user)
    url = f"/flags/{flag.pk}/"
    response = client.post(f"{url}acknowledge/", {"ack-note": "Calling today"})
    assert response.status_code == 302
    assert response["Location"] == url
    flag.refresh_from_db()
    assert flag.status == FlagStatus.ACKNOWLEDGED
    assert flag.acknowledged_by == user
    update = flag.history.filter(pgh_label="update").latest("pgh_created_at")  # type: ignore[attr-defined]
    assert update.pgh_context.metadata["actor"] == f"user:{user.pk}"

    refused = client.post(f"{url}close/", {"close-note": "  ", "action": "resolve"})
    assert refused.status_code == 200
    assert "Say why the flag is closed." in refused.content.decode()
    flag.refresh_from_db()
    assert flag.status == FlagStatus.ACKNOWLEDGED  # nothing half-written

    assert client.post(f"{url}close/", {"close-note": "Back at group", "action": "resolve"}).status_code == 302
    flag.refresh_from_db()
    assert flag.status == FlagStatus.RESOLVED
    assert flag.closed_by == user
    assert flag.resolution_note == "Back at group"
    page = _text(client.get(url))
    assert "Acknowledged</td>" in page
    assert "Ana Ruiz" in page
    assert "Back at group" in page
    assert page.count("Ana Ruiz") >= 3  # header, acknowledged by, resolved by (and the history rows)
    assert "Act on this flag" not in page  # a closed flag offers no more actions
    updates = _events(object_type="dashboard.flag", action=AccessAction.UPDATE)
    assert len(updates) == 2
    assert updates[0].object_ids == [flag.pk]


def test_dismiss_needs_a_note_and_a_bad_action_is_an_error_not_a_500(
    clinic_a: Clinic, staff_client: StaffClient
) -> None:
    client, _user = staff_client(clinic_a, Role.CASE_MANAGER)
    (flag,) = _flags(clinic_a, 1)
    assert "Choose Resolve or Dismiss." in client.post(f"/flags/{flag.pk}/close/", {"close-note": "x"}).content.decode()
    assert client.post(f"/flags/{flag.pk}/close/", {"close-note": "Moved away", "action": "dismiss"}).status_code == 302
    flag.refresh_from_db()
    assert flag.status == FlagStatus.DISMISSED
    again = client.post(f"/flags/{flag.pk}/acknowledge/", {})
    assert again.status_code == 200
    assert "cannot be acknowledged" in again.content.decode()
    assert client.get(f"/flags/{flag.pk}/acknowledge/").status_code == 405


def test_an_ehrs_acknowledgement_shows_the_integration_clients_name(
    clinic_a: Clinic, staff_client: StaffClient
) -> None:
    client, _user = staff_client(clinic_a, Role.CLINICIAN)
    (flag,) = _flags(clinic_a, 1)
    ehr = integration_client(clinic_a, ["flags:write"])
    flag_transition(
        flag=flag,
        kind=FlagEventKind.ACKNOWLEDGED,
        by=Caller(clinic=clinic_a, scopes=frozenset({"flags:write"}), client=ehr),
        note="Seen in Epic",
    )
    page = _text(client.get(f"/flags/{flag.pk}/"))
    assert f"{ehr.name} (integration)" in page
    assert page.count(f"{ehr.name} (integration)") == 2  # acknowledged by, and the history row


def test_an_auditor_reads_a_flag_but_sees_no_forms_and_cannot_post(clinic_a: Clinic, staff_client: StaffClient) -> None:
    client, _user = staff_client(clinic_a, Role.AUDITOR)
    (flag,) = _flags(clinic_a, 1)
    assert client.get("/flags/").status_code == 200
    page = client.get(f"/flags/{flag.pk}/").content.decode()
    assert '<form method="post" action="/flags/' not in page
    assert "outreach-form" not in page
    assert "Phone call" in page  # the outreach log is readable
    for url in (f"/flags/{flag.pk}/acknowledge/", f"/flags/{flag.pk}/close/", f"/patients/{flag.patient_id}/outreach/"):
        assert (
            client.post(url, {"close-note": "x", "action": "resolve", "outreach-channel": "phone"}).status_code == 403
        )
    flag.refresh_from_db()
    assert flag.status == FlagStatus.OPEN


def test_a_flag_page_costs_the_same_queries_for_2_and_40_evidence_items_and_attempts(
    clinic_a: Clinic, staff_client: StaffClient, django_assert_num_queries: Any
) -> None:
    client, user = staff_client(clinic_a, Role.CLINICIAN)
    flag = flagged(clinic_a, clinician=user)
    PlanFactory.create(patient=flag.patient)
    OutreachAttempt.objects.create(
        clinic=clinic_a, patient=flag.patient, channel="text", outcome="reached", attempted_at=timezone.now(), by=user
    )
    client.get(f"/flags/{flag.pk}/")
    with django_assert_num_queries(FLAG_QUERIES):
        client.get(f"/flags/{flag.pk}/")
    item = flag.evidence[0]
    flag.evidence = [item] * 40
    flag.save()
    for _ in range(40):
        OutreachAttempt.objects.create(
            clinic=clinic_a, patient=flag.patient, flag=flag, channel="phone", outcome="reached",
            attempted_at=timezone.now(), by=user,
        )  # fmt: skip
    with django_assert_num_queries(FLAG_QUERIES):
        assert len(client.get(f"/flags/{flag.pk}/").context["evidence"]) == 40


FLAG_QUERIES = 11


# --- the outreach log -----------------------------------------------------------------------------


def test_a_call_logged_on_the_flag_page_is_linked_to_the_flag_and_comes_back_to_it(
    clinic_a: Clinic, staff_client: StaffClient
) -> None:
    client, user = staff_client(clinic_a, Role.CLINICIAN)
    flag = flagged(clinic_a, clinician=user)
    follow_up = timezone.localdate() + datetime.timedelta(days=2)
    response = client.post(
        f"/patients/{flag.patient_id}/outreach/",
        {
            "outreach-channel": "phone",
            "outreach-outcome": "no_answer",
            "outreach-follow_up_on": follow_up.isoformat(),
            "outreach-note": "Rang twice",
            "outreach-flag": str(flag.pk),
            "outreach-next": f"/flags/{flag.pk}/",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == f"/flags/{flag.pk}/"
    attempt = OutreachAttempt.objects.get(patient=flag.patient)
    assert (attempt.flag, attempt.by, attempt.by_client, attempt.follow_up_on) == (flag, user, None, follow_up)
    assert attempt.history.get().pgh_context.metadata["actor"] == f"user:{user.pk}"  # type: ignore[attr-defined]
    (event,) = _events(object_type="dashboard.patient_outreach")
    assert (event.action, event.object_ids, event.patient_ids) == (AccessAction.CREATE, [attempt.pk], [flag.patient_id])
    page = _text(client.get(f"/flags/{flag.pk}/"))
    assert "Phone call · No answer" in page
    assert "Rang twice" in page


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("outreach-follow_up_on", "2001-01-01", "The follow-up date cannot be before the day of the attempt."),
        ("outreach-attempted_at", "2199-01-01T10:00", "An attempt cannot be in the future."),
        ("outreach-channel", "pigeon", "Select a valid choice."),
    ],
)
def test_a_bad_outreach_form_says_what_is_wrong_next_to_the_field_and_saves_nothing(
    clinic_a: Clinic, staff_client: StaffClient, field: str, value: str, message: str
) -> None:
    client, _user = staff_client(clinic_a, Role.CLINICIAN)
    patient = PatientFactory.create(clinic=clinic_a)
    body = {"outreach-channel": "phone", "outreach-outcome": "reached", field: value}
    response = client.post(f"/patients/{patient.pk}/outreach/", body)
    assert response.status_code == 200
    page = response.content.decode()
    name = field.removeprefix("outreach-")
    assert re.search(rf'id="id_outreach-{name}_error">[^<]*{re.escape(message)}', page), page
    assert not OutreachAttempt.objects.exists()


def test_an_outreach_form_refuses_another_patients_flag_and_an_off_site_next(
    clinic_a: Clinic, staff_client: StaffClient
) -> None:
    client, _user = staff_client(clinic_a, Role.CLINICIAN)
    (flag,) = _flags(clinic_a, 1)
    other = PatientFactory.create(clinic=clinic_a)
    body = {"outreach-channel": "email", "outreach-outcome": "reached", "outreach-flag": str(flag.pk)}
    refused = client.post(f"/patients/{other.pk}/outreach/", body)
    assert refused.status_code == 200
    assert "That flag is not one of this patient" in refused.content.decode()
    assert not OutreachAttempt.objects.filter(patient=other).exists()
    response = client.post(
        f"/patients/{flag.patient_id}/outreach/", {**body, "outreach-next": "https://evil.example/flags/"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/flags/{flag.pk}/"


def test_the_outreach_include_offers_exactly_the_models_channels_and_outcomes() -> None:
    from pathlib import Path

    import aftercare

    text = (Path(aftercare.__file__).parent / "templates/dashboard/flags/_outreach_form.html").read_text()
    options = re.findall(r'<option value="(\w+)">([^<]+)</option>', text)
    assert options == [*OutreachChannel.choices, *OutreachOutcome.choices]


# --- links in emails ------------------------------------------------------------------------------


def test_the_high_flag_email_links_to_the_flag_page_through_sign_in(
    clinic_a: Clinic, settings: Any, staff_client: StaffClient
) -> None:
    settings.AFTERCARE_PUBLIC_URL = "https://care.example.org"
    from tests.e2e.conftest import STAFF_PASSWORD  # noqa: F401 (the suite's password convention)
    from tests.factories import MembershipFactory

    member = MembershipFactory.create(clinic=clinic_a, role=Role.CLINICIAN, user__is_staff=False)
    user = member.user
    user.email = "ana@clinic.example.org"
    user.save()
    flag = flagged(clinic_a, clinician=user, third=True)
    mail.outbox.clear()
    RiskFlag.objects.filter(pk=flag.pk).update(notified_at=None)
    assert flags_notify(flag_ids=[flag.pk]) == 1
    (message,) = mail.outbox
    link = f"https://care.example.org/flags/{flag.pk}/"
    assert link in message.body
    assert "/api/" not in message.body
    assert "/api/" not in str(message.alternatives[0][0])  # type: ignore[attr-defined]
    path = link.removeprefix("https://care.example.org")

    browser = Client()
    response = browser.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/sign-in/?next={path}"

    from django_otp.oath import TOTP

    from clinic.services.mfa import mfa_enroll

    user.set_password("a long enough pass phrase 2026")
    user.save()
    device = mfa_enroll(user=user).device
    code = str(TOTP(device.bin_key, step=device.step, digits=device.digits).token()).zfill(device.digits)
    signed_in = browser.post(
        f"/sign-in/?next={path}",
        {"username": user.username, "password": "a long enough pass phrase 2026", "code": code, "next": path},
    )
    assert signed_in.status_code == 302
    assert signed_in["Location"] == path
    landed = browser.get(path)
    assert landed.status_code == 200
    assert landed.context["flag"].pk == flag.pk


def test_the_digest_links_to_the_flag_queue(clinic_a: Clinic, settings: Any) -> None:
    from aftercare.services.digests import DigestCounts, _message

    settings.AFTERCARE_PUBLIC_URL = "https://care.example.org"
    user = _someone(clinic_a)
    message = _message(clinic_a, user, DigestCounts(1, 2, 3), None)
    assert "https://care.example.org/flags/" in message.body
    assert "/admin/" not in message.body
    assert "/api/" not in message.body
    assert Client().get("/flags/")["Location"] == "/sign-in/?next=/flags/"
