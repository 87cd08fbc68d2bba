"""Check-ins: the schedule, the email, the signed link and its page, the answers and their scores,
the opt-out. Real PostgreSQL, real email objects in mail.outbox, the beat task through the real
service."""

from __future__ import annotations

import datetime
import email
import email.header
import logging
import re
import uuid
import zoneinfo
from typing import Any
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core import mail, signing
from django.test import Client

from aftercare.checkins.instrument import TEXT, VERSION, Answers, band
from aftercare.checkins.links import checkin_token, checkin_url, opt_out_url
from aftercare.models import CheckIn, CheckInResponse, CheckInStatus, OutboxMessage, PlanStatus
from aftercare.services.checkins import (
    checkin_send_at,
    checkins_run,
    checkins_schedule,
)
from clinic.models import Clinic, Patient, PatientStatus
from clinic.privacy import forbidden_words_in
from clinic.services.patients import patient_update
from tasks.checkins import checkins_run as checkins_run_task
from tests.aftercare.factories import PlanFactory
from tests.factories import ClinicFactory, PatientFactory

CHICAGO = zoneinfo.ZoneInfo("America/Chicago")
UTC = datetime.UTC
# A Tuesday in Chicago, mid-morning (CST, UTC-6): inside the send hour, outside quiet hours.
MORNING = datetime.datetime(2027, 1, 12, 10, 30, tzinfo=CHICAGO)
ANSWERS = {
    "use_days": "1",
    "craving": "3",
    "sleep_trouble_days": "4",
    "low_mood_days": "2",
    "anxious_days": "6",
    "angry_days": "0",
    "confidence": "1",
    "support": "2",
    "meeting_days": "3",
    "wants_call": "on",
}


@pytest.fixture(autouse=True)
def _mail(settings: Any) -> None:
    settings.DEFAULT_FROM_EMAIL = "care@mail.example.org"
    settings.AFTERCARE_PUBLIC_URL = "https://care.example.org"
    settings.AFTERCARE_CHECKIN_LINK_HOURS = 72
    settings.AFTERCARE_CHECKIN_SEND_HOUR = 10


@pytest.fixture
def browser() -> Client:
    return Client(enforce_csrf_checks=True)


def enrolled(clinic: Clinic, *, started_days_ago: int = 30, every: int = 7, **fields: Any) -> Patient:
    """A patient who gets check-ins, with an active plan that started `started_days_ago`."""
    fields.setdefault("checkins_opt_in", True)
    patient = PatientFactory.create(clinic=clinic, **fields)
    start = MORNING.date() - datetime.timedelta(days=started_days_ago)
    PlanFactory.create(patient=patient, start_date=start, checkin_every_days=every)
    return patient


def sent_checkin(patient: Patient, *, at: datetime.datetime = MORNING) -> CheckIn:
    """A check-in sent to `patient` at `at`, as the dispatcher leaves it."""
    return CheckIn.objects.create(
        clinic=patient.clinic,
        patient=patient,
        plan=patient.plans.get(status=PlanStatus.ACTIVE),
        due_on=at.astimezone(patient.clinic.zone).date(),
        send_at=at,
        status=CheckInStatus.SENT,
        attempts=1,
        sent_at=at,
        expires_at=at + datetime.timedelta(hours=72),
    )


def link(checkin: CheckIn) -> str:
    return urlsplit(checkin_url(checkin.pk)).path


def page(response: Any) -> str:
    return str(response.content.decode())


def decoded(message: Any) -> dict[str, str]:
    mime = email.message_from_bytes(message.message().as_bytes())
    parts = {}
    for part in mime.walk():
        if part.get_content_maintype() != "multipart":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            parts[part.get_content_type()] = payload.decode(part.get_content_charset() or "utf-8")
    header = {
        # Unfolded (RFC 5322 2.2.3) and decoded, as a mail program reads it.
        name: str(
            email.header.make_header(email.header.decode_header(re.sub(r"\r?\n(?=[ \t])", "", mime[name]).strip()))
        )
        for name in ("Subject", "From", "To", "List-Unsubscribe", "List-Unsubscribe-Post")
    }
    return {**header, "text": parts["text/plain"], "html": parts["text/html"]}


def assert_nothing_about(patient: Patient, text: str) -> None:
    for private in (patient.given_name, patient.family_name, patient.email, str(patient.pk), patient.pk.hex):
        assert private not in text


# --- The schedule ---------------------------------------------------------------------------------


def test_the_beat_task_makes_the_due_checkin_and_sends_it_once_in_the_patients_language(clinic_a: Clinic) -> None:
    patient = enrolled(clinic_a, preferred_language="es")

    with time_machine.travel(MORNING, tick=False):
        first = checkins_run_task()
        second = checkins_run_task()

    assert first["scheduled"] == 1
    assert first["sent"] == 1
    assert second == {"expired": 0, "in_doubt": 0, "scheduled": 0, "sent": 0, "retried": 0, "cancelled": 0}
    (checkin,) = CheckIn.objects.filter(patient=patient)
    assert checkin.status == CheckInStatus.SENT
    assert checkin.due_on == MORNING.date()
    assert checkin.sent_at is not None
    assert checkin.expires_at == checkin.sent_at + datetime.timedelta(hours=72)
    (message,) = mail.outbox
    sent = decoded(message)
    assert sent["Subject"] == f"Un breve seguimiento de {clinic_a.public_name}"
    assert sent["To"] == patient.email
    assert sent["List-Unsubscribe"] == f"<{opt_out_url(patient.pk)}>"
    assert sent["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert '<html lang="es">' in sent["html"]
    for body in (sent["text"], sent["html"]):
        assert "https://care.example.org/c/" in body
        assert opt_out_url(patient.pk) in body
        assert "Para dejar de recibir estos seguimientos" in body
        assert patient.given_name not in body
        assert patient.family_name not in body


def test_an_english_email_has_the_subject_the_private_link_and_a_separate_opt_out(clinic_a: Clinic) -> None:
    patient = enrolled(clinic_a)

    with time_machine.travel(MORNING, tick=False):
        checkins_run()

    checkin = CheckIn.objects.get(patient=patient)
    sent = decoded(mail.outbox[0])
    assert sent["Subject"] == f"A quick check-in from {clinic_a.public_name}"
    assert urlsplit(checkin_url(checkin.pk)).path.split(".")[0] in sent["text"]
    assert f"{opt_out_url(patient.pk)}" in sent["text"]
    assert "To stop receiving these check-ins" in sent["text"]
    assert "works for 72 hours" in sent["text"]


def test_a_checkin_is_not_due_before_its_interval_has_passed_since_the_plan_started(clinic_a: Clinic) -> None:
    enrolled(clinic_a, started_days_ago=6)

    with time_machine.travel(MORNING, tick=False):
        result = checkins_run()

    assert result.scheduled == 0
    assert mail.outbox == []


def test_the_next_checkin_falls_due_its_interval_after_the_last_and_never_while_one_is_open(clinic_a: Clinic) -> None:
    patient = enrolled(clinic_a, every=7)
    with time_machine.travel(MORNING, tick=False):
        checkins_run()

    for days in (1, 2):  # the first one is still open (sent, its link works for 72 hours)
        with time_machine.travel(MORNING + datetime.timedelta(days=days), tick=False):
            assert checkins_schedule() == 0
    for days in (4, 6):  # expired, but the week is not over
        with time_machine.travel(MORNING + datetime.timedelta(days=days), tick=False):
            checkins_run()
    with time_machine.travel(MORNING + datetime.timedelta(days=7), tick=False):
        result = checkins_run()

    assert result.scheduled == 1
    statuses = list(CheckIn.objects.filter(patient=patient).order_by("due_on").values_list("status", "due_on"))
    assert statuses == [
        (CheckInStatus.EXPIRED, MORNING.date()),
        (CheckInStatus.SENT, MORNING.date() + datetime.timedelta(days=7)),
    ]
    assert len(mail.outbox) == 2


def test_a_checkin_due_in_the_night_waits_for_the_send_hour_and_one_in_quiet_hours_for_their_end(
    clinic_a: Clinic,
) -> None:
    patient = enrolled(clinic_a)
    night = datetime.datetime(2027, 1, 12, 2, 0, tzinfo=CHICAGO)

    with time_machine.travel(night, tick=False):
        result = checkins_run()

    checkin = CheckIn.objects.get(patient=patient)
    assert result.scheduled == 1
    assert result.sent == 0
    assert checkin.status == CheckInStatus.SCHEDULED
    assert checkin.send_at == datetime.datetime(2027, 1, 12, 10, 0, tzinfo=CHICAGO)
    with time_machine.travel(checkin.send_at + datetime.timedelta(minutes=5), tick=False):
        assert checkins_run().sent == 1

    clinic_a.quiet_hours_start = datetime.time(9, 0)
    clinic_a.quiet_hours_end = datetime.time(12, 0)
    assert checkin_send_at(day=night.date(), clinic=clinic_a, now=night.astimezone(UTC)) == datetime.datetime(
        2027, 1, 12, 12, 0, tzinfo=CHICAGO
    )
    evening = datetime.datetime(2027, 1, 12, 22, 30, tzinfo=CHICAGO)
    clinic_a.quiet_hours_start, clinic_a.quiet_hours_end = datetime.time(21, 0), datetime.time(8, 0)
    assert checkin_send_at(day=evening.date(), clinic=clinic_a, now=evening.astimezone(UTC)) == datetime.datetime(
        2027, 1, 13, 8, 0, tzinfo=CHICAGO
    )


@pytest.mark.parametrize(
    "who",
    ["plan_off", "no_email", "opted_out", "discharged", "no_active_plan"],
)
def test_no_checkin_is_made_for_a_patient_who_should_not_get_one(clinic_a: Clinic, who: str) -> None:
    if who == "plan_off":
        enrolled(clinic_a, every=0)
    elif who == "no_email":
        enrolled(clinic_a, email="")
    elif who == "opted_out":
        enrolled(clinic_a, checkins_opt_in=False)
    elif who == "discharged":
        enrolled(clinic_a, status=PatientStatus.DISCHARGED, discharge_date=MORNING.date())
    else:
        patient = enrolled(clinic_a)
        patient.plans.update(status=PlanStatus.COMPLETED)

    with time_machine.travel(MORNING, tick=False):
        result = checkins_run()

    assert result.scheduled == 0
    assert CheckIn.objects.count() == 0
    assert mail.outbox == []


def test_a_scheduled_checkin_is_cancelled_not_sent_when_the_plan_turns_them_off_before_it_goes(
    clinic_a: Clinic,
) -> None:
    patient = enrolled(clinic_a)
    with time_machine.travel(MORNING.replace(hour=2), tick=False):
        checkins_run()
    patient.plans.update(checkin_every_days=0)

    with time_machine.travel(MORNING, tick=False):
        result = checkins_run()

    assert result.cancelled == 1
    assert CheckIn.objects.get(patient=patient).status == CheckInStatus.CANCELLED
    assert mail.outbox == []


def test_a_checkin_left_claimed_by_a_worker_that_died_is_cancelled_and_never_resent(clinic_a: Clinic) -> None:
    patient = enrolled(clinic_a)
    with time_machine.travel(MORNING.replace(hour=2), tick=False):
        checkins_run()
    # As a claim leaves it (the attempt counted), with the lease run out.
    CheckIn.objects.filter(patient=patient).update(claimed_until=MORNING - datetime.timedelta(minutes=1), attempts=1)

    with time_machine.travel(MORNING, tick=False):
        result = checkins_run()

    assert result.in_doubt == 1
    assert result.sent == 0
    checkin = CheckIn.objects.get(patient=patient)
    assert checkin.status == CheckInStatus.CANCELLED
    assert "not resent" in checkin.last_error
    assert mail.outbox == []


def test_a_checkin_whose_email_fails_for_a_moment_is_tried_again_later(clinic_a: Clinic, settings: Any) -> None:
    patient = enrolled(clinic_a)

    class Down:
        def __enter__(self) -> Down:
            return self

        def __exit__(self, *args: object) -> None:
            return None

        def send_messages(self, messages: list[Any]) -> int:
            raise ConnectionError("the server is away")

    with time_machine.travel(MORNING, tick=False):
        result = checkins_run(connection=Down())

    checkin = CheckIn.objects.get(patient=patient)
    assert result.retried == 1
    assert checkin.status == CheckInStatus.SCHEDULED
    assert checkin.attempts == 1
    assert checkin.last_error == "ConnectionError"
    assert checkin.send_at > MORNING
    with time_machine.travel(checkin.send_at + datetime.timedelta(minutes=1), tick=False):
        assert checkins_run().sent == 1
    assert len(mail.outbox) == 1


# --- The page -------------------------------------------------------------------------------------


def test_the_page_shows_the_questions_and_nothing_about_the_patient(browser: Client, clinic_a: Clinic) -> None:
    patient = enrolled(clinic_a)
    checkin = sent_checkin(patient)

    with time_machine.travel(MORNING + datetime.timedelta(hours=1), tick=False):
        response = browser.get(link(checkin))

    assert response.status_code == 200
    text = page(response)
    assert f"A quick check-in from {clinic_a.public_name}" in text
    assert '<html lang="en">' in text
    assert text.count("<fieldset") == 9
    assert text.count("<legend>") == 9
    assert TEXT["en"]["use_days"] in text
    assert 'type="checkbox" name="wants_call"' in text
    assert clinic_a.name not in text  # the internal name says what the clinic is
    assert_nothing_about(patient, text)
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]
    assert "noindex" in response["X-Robots-Tag"]
    assert CheckIn.objects.get(pk=checkin.pk).status == CheckInStatus.SENT


def test_answers_are_stored_scored_and_evaluated_and_the_link_then_works_no_more(
    browser: Client, clinic_a: Clinic
) -> None:
    patient = enrolled(clinic_a)
    checkin = sent_checkin(patient)
    answered_at = MORNING + datetime.timedelta(hours=2)

    with time_machine.travel(answered_at, tick=False):
        response = browser.post(link(checkin), ANSWERS)
        again = browser.post(link(checkin), {**ANSWERS, "use_days": "0"})
        reopened = browser.get(link(checkin))

    assert response.status_code == 200
    assert "Thank you" in page(response)
    assert f"Someone from {clinic_a.public_name} will call you." in page(response)
    stored = CheckInResponse.objects.get(checkin=checkin)
    assert stored.patient_id == patient.pk
    assert stored.clinic_id == clinic_a.pk
    assert stored.instrument == VERSION == "bam-adapted-1"
    assert stored.answered_at == answered_at
    assert (stored.use_days, stored.craving, stored.confidence, stored.wants_call) == (1, 3, 1, True)
    assert (stored.sleep_trouble_days, stored.low_mood_days, stored.anxious_days, stored.angry_days) == (4, 2, 6, 0)
    assert (stored.support, stored.meeting_days) == (2, 3)
    # risk: band(4 nights) 3 + band(worst mood, 6 days) 4 + craving 3; protective: 1 + band(3) 2 + 2.
    assert (stored.risk_score, stored.protective_score) == (10, 5)
    checkin.refresh_from_db()
    assert checkin.status == CheckInStatus.ANSWERED
    assert checkin.answered_at == answered_at
    assert OutboxMessage.objects.filter(kind="risk_evaluate", payload={"patient_ids": [str(patient.pk)]}).exists()
    for refused in (again, reopened):
        assert refused.status_code == 410
        assert "This check-in is closed" in page(refused)
        assert clinic_a.public_name not in page(refused)
        assert "<form" not in page(refused)
    assert CheckInResponse.objects.count() == 1
    assert CheckInResponse.objects.get(checkin=checkin).use_days == 1


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"craving": None}, TEXT["en"]["craving"]),
        ({"use_days": "8"}, TEXT["en"]["use_days"]),
        ({"confidence": "-1"}, TEXT["en"]["confidence"]),
        ({"support": "lots"}, TEXT["en"]["support"]),
        ({"anxious_days": None}, f"{TEXT['en']['mood']} {TEXT['en']['anxious_days']}"),
    ],
)
def test_a_bad_answer_is_named_the_form_is_shown_again_with_the_answers_kept_and_nothing_is_stored(
    browser: Client, clinic_a: Clinic, change: dict[str, str | None], named: str
) -> None:
    checkin = sent_checkin(enrolled(clinic_a))
    data = {name: value for name, value in {**ANSWERS, **change}.items() if value is not None}

    with time_machine.travel(MORNING + datetime.timedelta(hours=1), tick=False):
        response = browser.post(link(checkin), data)

    assert response.status_code == 200
    text = page(response)
    assert f"Please answer: {named}" in text
    assert 'role="alert"' in text
    assert 'aria-invalid="true"' in text
    # The other answers are kept: the meeting days answered "3" is still checked.
    assert 'name="meeting_days" value="3" id="item-meeting_days_3" checked' in text
    assert 'name="wants_call" id="item-wants_call" checked' in text
    assert CheckInResponse.objects.count() == 0
    assert CheckIn.objects.get(pk=checkin.pk).status == CheckInStatus.SENT


def test_a_spanish_speaking_patient_gets_the_page_in_spanish(browser: Client, clinic_a: Clinic) -> None:
    checkin = sent_checkin(enrolled(clinic_a, preferred_language="es"))

    with time_machine.travel(MORNING + datetime.timedelta(hours=1), tick=False):
        form = browser.get(link(checkin))
        invalid = browser.post(link(checkin), {**ANSWERS, "craving": ""})
        done = browser.post(link(checkin), {**ANSWERS, "wants_call": ""})

    assert '<html lang="es">' in page(form)
    assert f"Un breve seguimiento de {clinic_a.public_name}" in page(form)
    assert TEXT["es"]["use_days"] in page(form)
    assert "Muchísimo" in page(form)
    assert f"Responda, por favor: {TEXT['es']['craving']}" in page(invalid)
    assert "Gracias" in page(done)
    assert f"Sus respuestas se enviaron a {clinic_a.public_name}." in page(done)
    assert "le llamará" not in page(done)
    assert CheckInResponse.objects.get(checkin=checkin).wants_call is False


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_tampered_or_foreign_token_is_404_with_a_page_that_reveals_nothing(
    browser: Client, clinic_a: Clinic, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    patient = enrolled(clinic_a)
    checkin = sent_checkin(patient)
    travel = time_machine.travel(MORNING + datetime.timedelta(hours=1), tick=False)
    travel.start()
    token = checkin_token(checkin.pk)
    value, stamp, signature = token.split(".")
    tokens = [
        f"{value}.{stamp}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",
        f"{uuid.uuid4().hex}.{stamp}.{signature}",
        signing.TimestampSigner(salt="aftercare.reminders.unsubscribe", sep=".").sign(checkin.pk.hex),
        signing.Signer(salt="aftercare.checkins.opt-out", sep=".").sign(checkin.pk.hex),
        checkin_token(uuid.uuid4()),  # genuine, but names no check-in
        "x" * 300,
    ]

    with caplog.at_level(logging.DEBUG):
        responses = [getattr(browser, method)(f"/c/{bad}/", ANSWERS if method == "post" else None) for bad in tokens]
    travel.stop()

    for response in responses:
        assert response.status_code == 404
        text = page(response)
        assert "This link is not valid" in text
        assert "Este enlace no es válido" in text
        assert clinic_a.public_name not in text
        assert "<form" not in text
        assert_nothing_about(patient, text)
    assert CheckInResponse.objects.count() == 0
    for bad in tokens[:-1]:
        assert bad not in caplog.text
    assert checkin.pk.hex not in caplog.text


def test_an_expired_link_is_410_whatever_the_row_says_and_the_beat_marks_it_expired(
    browser: Client, clinic_a: Clinic, caplog: pytest.LogCaptureFixture
) -> None:
    patient = enrolled(clinic_a)
    with time_machine.travel(MORNING, tick=False):
        checkins_run()
    checkin = CheckIn.objects.get(patient=patient)

    late = MORNING + datetime.timedelta(hours=72, minutes=1)
    with caplog.at_level(logging.DEBUG), time_machine.travel(late, tick=False):
        before_the_beat = browser.post(link(checkin), ANSWERS)
        expired = checkins_run().expired
        after_the_beat = browser.get(link(checkin))

    assert expired == 1
    assert CheckIn.objects.get(pk=checkin.pk).status == CheckInStatus.EXPIRED
    for response in (before_the_beat, after_the_beat):
        assert response.status_code == 410
        assert "This check-in is closed" in page(response)
        assert_nothing_about(patient, page(response))
    assert CheckInResponse.objects.count() == 0
    assert checkin_token(checkin.pk).split(".")[0] not in caplog.text


def test_a_checkin_answered_after_the_patient_opted_out_is_not_stored(browser: Client, clinic_a: Clinic) -> None:
    patient = enrolled(clinic_a)
    checkin = sent_checkin(patient)
    with time_machine.travel(MORNING + datetime.timedelta(hours=1), tick=False):
        form = browser.get(link(checkin))
        opted_out = browser.post(urlsplit(opt_out_url(patient.pk)).path)
        response = browser.post(link(checkin), ANSWERS)

    assert form.status_code == 200
    assert opted_out.status_code == 200
    assert response.status_code == 410
    assert_nothing_about(patient, page(response))
    assert CheckInResponse.objects.count() == 0
    assert CheckIn.objects.get(pk=checkin.pk).status == CheckInStatus.CANCELLED


def test_a_checkin_is_refused_when_staff_opted_the_patient_out_even_if_nothing_cancelled_it(
    browser: Client, clinic_a: Clinic
) -> None:
    patient = enrolled(clinic_a)
    checkin = sent_checkin(patient)
    Patient.objects.filter(pk=patient.pk).update(checkins_opt_in=False)  # a bulk write: no hook ran

    with time_machine.travel(MORNING + datetime.timedelta(hours=1), tick=False):
        response = browser.post(link(checkin), ANSWERS)

    assert response.status_code == 410
    assert CheckInResponse.objects.count() == 0


def test_staff_opting_a_patient_out_cancels_their_open_checkins_and_only_theirs(clinic_a: Clinic) -> None:
    patient = enrolled(clinic_a)
    other = enrolled(clinic_a)
    mine, theirs = sent_checkin(patient), sent_checkin(other)

    patient_update(patient=patient, checkins_opt_in=False)

    assert CheckIn.objects.get(pk=mine.pk).status == CheckInStatus.CANCELLED
    assert CheckIn.objects.get(pk=theirs.pk).status == CheckInStatus.SENT
    assert Patient.objects.get(pk=patient.pk).reminders_opt_in is True


def test_answers_never_land_on_another_patient(browser: Client, clinic_a: Clinic, clinic_b: Clinic) -> None:
    target = enrolled(clinic_b)
    others = [enrolled(clinic_a), enrolled(clinic_b)]
    target_checkin = sent_checkin(target)
    other_checkins = [sent_checkin(other) for other in others]

    with time_machine.travel(MORNING + datetime.timedelta(hours=1), tick=False):
        response = browser.post(link(target_checkin), {**ANSWERS, "patient": str(others[0].pk)})

    assert response.status_code == 200
    (stored,) = CheckInResponse.objects.all()
    assert stored.checkin_id == target_checkin.pk
    assert stored.patient_id == target.pk
    assert stored.clinic_id == clinic_b.pk
    for checkin in other_checkins:
        assert CheckIn.objects.get(pk=checkin.pk).status == CheckInStatus.SENT


def test_another_method_is_refused_without_logging_the_token(
    browser: Client, clinic_a: Clinic, caplog: pytest.LogCaptureFixture
) -> None:
    checkin = sent_checkin(enrolled(clinic_a))

    with caplog.at_level(logging.DEBUG):
        response = browser.put(link(checkin))

    assert response.status_code == 405
    assert checkin_token(checkin.pk).split(".")[0] not in caplog.text


# --- The opt-out link -----------------------------------------------------------------------------


def test_the_opt_out_link_asks_on_get_and_stops_checkins_only_on_post(browser: Client, clinic_a: Clinic) -> None:
    patient = enrolled(clinic_a, preferred_language="es")
    checkin = sent_checkin(patient)
    path = urlsplit(opt_out_url(patient.pk)).path

    asked = browser.get(path)
    unchanged = Patient.objects.get(pk=patient.pk)
    done = browser.post(path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    again = browser.post(path)

    assert asked.status_code == 200
    assert "¿Desea dejar de recibir los seguimientos de" in page(asked)
    assert unchanged.checkins_opt_in is True
    assert done.status_code == 200
    assert f"No recibirá más seguimientos de {clinic_a.public_name}." in page(done)
    assert "Ya había dejado de recibirlos" in page(again)
    reloaded = Patient.objects.get(pk=patient.pk)
    assert reloaded.checkins_opt_in is False
    assert reloaded.reminders_opt_in is True
    assert CheckIn.objects.get(pk=checkin.pk).status == CheckInStatus.CANCELLED
    for response in (asked, done, again):
        assert_nothing_about(patient, page(response))
        assert response["Referrer-Policy"] == "no-referrer"


def test_a_tampered_opt_out_link_is_404_and_changes_nothing(browser: Client, clinic_a: Clinic) -> None:
    patient = enrolled(clinic_a)
    path = urlsplit(opt_out_url(patient.pk)).path
    tampered = path[:-2] + ("A" if path[-2] != "A" else "B") + "/"

    response = browser.post(tampered)

    assert response.status_code == 404
    assert clinic_a.public_name not in page(response)
    assert Patient.objects.get(pk=patient.pk).checkins_opt_in is True


# --- Nothing revealing, anywhere ------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "es"])
def test_no_email_or_page_says_anything_about_the_kind_of_care(browser: Client, language: str, db: None) -> None:
    clinic = ClinicFactory.create(name="Riverbend Recovery Center", display_name="Riverbend Health", phone="")
    patient = enrolled(clinic, preferred_language=language)
    with time_machine.travel(MORNING, tick=False):
        checkins_run()
    checkin = CheckIn.objects.get(patient=patient)
    texts = list(decoded(mail.outbox[0]).values())
    with time_machine.travel(MORNING + datetime.timedelta(hours=1), tick=False):
        for response in (
            browser.get(link(checkin)),
            browser.post(link(checkin), {**ANSWERS, "craving": ""}),
            browser.post(link(checkin), ANSWERS),
            browser.get(link(checkin)),
            browser.get("/c/not-a-token/"),
            browser.get(urlsplit(opt_out_url(patient.pk)).path),
            browser.post(urlsplit(opt_out_url(patient.pk)).path),
        ):
            texts.append(page(response))

    assert len(texts) > 10
    for text in texts:
        assert forbidden_words_in(text) == [], text
    for strings in TEXT.values():
        for text in strings.values():
            assert forbidden_words_in(text) == [], text


def test_a_clinic_name_that_is_not_neutral_stops_the_email_and_cancels_the_checkin(db: None) -> None:
    clinic = ClinicFactory.create()
    Clinic.objects.filter(pk=clinic.pk).update(display_name="Northside Rehab")  # written before validation
    patient = enrolled(Clinic.objects.get(pk=clinic.pk))

    with time_machine.travel(MORNING, tick=False):
        result = checkins_run()

    assert result.cancelled == 1
    assert mail.outbox == []
    assert CheckIn.objects.get(patient=patient).last_error == "clinic_name is not neutral enough for a patient's email"


# --- The scores -----------------------------------------------------------------------------------


def test_days_are_banded_onto_the_bams_scale_and_the_scores_stay_in_range() -> None:
    assert [band(days) for days in range(8)] == [0, 1, 2, 2, 3, 3, 4, 4]
    worst = Answers(7, 4, 7, 7, 7, 7, 0, 0, 0, wants_call=True)
    best = Answers(0, 0, 0, 0, 0, 0, 4, 4, 7, wants_call=False)
    assert (worst.risk_score, worst.protective_score) == (12, 0)
    assert (best.risk_score, best.protective_score) == (0, 12)
    with pytest.raises(ValueError, match="use_days"):
        Answers(8, 0, 0, 0, 0, 0, 0, 0, 0, wants_call=False)


def test_the_links_are_redacted_in_logs_to_their_route_words() -> None:
    from clinic.privacy import redact_path, redact_text

    checkin_id, patient_id = uuid.uuid4(), uuid.uuid4()
    page_path = urlsplit(checkin_url(checkin_id)).path
    stop_path = urlsplit(opt_out_url(patient_id)).path

    assert redact_path(page_path) == "/c/…/"
    assert redact_path(stop_path) == "/c/stop/…/"
    assert checkin_id.hex not in redact_text(f'"GET {page_path} HTTP/1.1" 410')
    assert patient_id.hex not in redact_text(f"Not Found: {stop_path}")


def test_the_database_refuses_a_second_open_checkin_for_a_patient(clinic_a: Clinic) -> None:
    from django.db import IntegrityError, transaction

    patient = enrolled(clinic_a)
    first = sent_checkin(patient)

    with pytest.raises(IntegrityError, match="checkin_one_open_per_patient"), transaction.atomic():
        sent_checkin(patient, at=MORNING + datetime.timedelta(days=1))
    CheckIn.objects.filter(pk=first.pk).update(status=CheckInStatus.EXPIRED)
    assert sent_checkin(patient, at=MORNING + datetime.timedelta(days=1)).status == CheckInStatus.SENT


def test_a_claimed_checkin_is_never_claimed_again_by_another_pass(clinic_a: Clinic) -> None:
    from aftercare.services.checkins import checkins_claim

    enrolled(clinic_a)
    with time_machine.travel(MORNING.replace(hour=2), tick=False):
        checkins_schedule()

    with time_machine.travel(MORNING, tick=False):
        mine = checkins_claim(now=MORNING.astimezone(UTC))
        theirs = checkins_claim(now=MORNING.astimezone(UTC))
        result = checkins_run()

    assert len(mine) == 1
    assert theirs == []
    assert result.sent == 0  # still this worker's, under its lease
    assert mail.outbox == []
