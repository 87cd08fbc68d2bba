"""Reminder emails: what they say, in which language and time zone, and what they must never say."""

from __future__ import annotations

import dataclasses
import datetime
import email
import email.header
import email.utils
import re
from email.message import Message
from typing import Any

import icalendar
import pytest
from django.core import mail
from django.core.mail import EmailMessage
from hypothesis import assume, given
from hypothesis import strategies as st

from aftercare.checkins.email import CheckInContent, checkin_message
from aftercare.reminders.email import ReminderContent, missed_session_message, reminder_message
from clinic.privacy import FORBIDDEN_WORDS, forbidden_words_in

UTC = datetime.UTC
UNSUBSCRIBE = "https://reminders.example.org/r/unsubscribe/abc123.SIGNATURE/"
TELEHEALTH = "https://video.example.org/room/7f3a"
# 09:00 in Chicago, the day after clocks go forward (CDT, UTC-5) and the day after they go back (CST, UTC-6).
MARCH = datetime.datetime(2027, 3, 15, 14, 0, tzinfo=UTC)
NOVEMBER = datetime.datetime(2027, 11, 8, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _sender(settings: Any) -> None:
    settings.DEFAULT_FROM_EMAIL = "reminders@mail.example.org"


def content(**overrides: Any) -> ReminderContent:
    fields: dict[str, Any] = {
        "clinic_name": "Riverbend Health",
        "clinic_phone": "+1 312-555-0100",
        "recipient": "pat@example.org",
        "language": "en",
        "starts_at": MARCH,
        "ends_at": MARCH + datetime.timedelta(minutes=50),
        "time_zone": "America/Chicago",
        "location": "Suite 200, 41 Elm Street",
        "telehealth_url": "",
        "unsubscribe_url": UNSUBSCRIBE,
        "uid": "5b0c6f6e-8f7a-4d0e-9a51-2d0c1f9e3c11",
        "sender_name": "",
    }
    fields.update(overrides)
    return ReminderContent(**fields)


@dataclasses.dataclass
class Sent:
    """A message as its recipient's mail program sees it: decoded from the MIME that goes on the wire."""

    mime: Message
    subject: str
    text: str
    html: str
    ics: str | None

    @property
    def calendar(self) -> icalendar.Calendar:
        assert self.ics is not None
        return icalendar.Calendar.from_ical(self.ics)

    def header(self, name: str) -> str:
        """A header's value as a mail program reads it: unfolded (RFC 5322 2.2.3) and decoded."""
        unfolded = re.sub(r"\r?\n(?=[ \t])", "", self.mime[name]).strip()
        return str(email.header.make_header(email.header.decode_header(unfolded)))

    def headers(self) -> list[str]:
        # Message-ID and Date are Django's (random and clock), not ours.
        return [f"{name}: {self.header(name)}" for name in self.mime if name not in {"Message-ID", "Date"}]

    def everything(self) -> list[str]:
        return [self.subject, self.text, self.html, *(self.headers()), *([self.ics] if self.ics else [])]


def decoded(message: EmailMessage) -> Sent:
    mime = email.message_from_bytes(message.message().as_bytes())
    parts: dict[str, str] = {}
    for part in mime.walk():
        if part.get_content_maintype() == "multipart":
            continue
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        parts[part.get_content_type()] = payload.decode(part.get_content_charset() or "utf-8")
    subject = str(email.header.make_header(email.header.decode_header(mime["Subject"])))
    return Sent(
        mime=mime, subject=subject, text=parts["text/plain"], html=parts["text/html"], ics=parts.get("text/calendar")
    )


def sent(message: EmailMessage) -> Sent:
    """Send through the test backend and read back what was sent."""
    message.send()
    assert len(mail.outbox) == 1
    return decoded(mail.outbox.pop())


def test_an_english_reminder_gives_the_local_time_place_phone_and_unsubscribe_link() -> None:
    message = sent(reminder_message(content()))

    assert message.subject == "Reminder: your appointment on Monday 15 March at 09:00"
    for body in (message.text, message.html):
        assert "Riverbend Health" in body
        assert "Monday 15 March 2027 at 09:00 CDT" in body
        assert "Suite 200, 41 Elm Street" in body
        assert "+1 312-555-0100" in body
        assert UNSUBSCRIBE in body
    assert f'href="{UNSUBSCRIBE}"' in message.html
    assert message.mime["To"] == "pat@example.org"
    assert message.header("From") == "Riverbend Health <reminders@mail.example.org>"
    assert message.header("List-Unsubscribe") == f"<{UNSUBSCRIBE}>"
    assert message.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"


def test_a_spanish_reminder_is_in_spanish_with_spanish_dates() -> None:
    message = sent(
        reminder_message(content(language="es", starts_at=NOVEMBER, ends_at=NOVEMBER + datetime.timedelta(hours=1)))
    )

    assert message.subject == "Recordatorio: su cita el lunes 8 de noviembre a las 09:00"
    for body in (message.text, message.html):
        assert "Le recordamos su cita en Riverbend Health." in body
        assert "lunes 8 de noviembre de 2027 a las 09:00 CST" in body
        assert "Si necesita cambiar o cancelar la cita, llame a Riverbend Health al +1 312-555-0100." in body
        assert "Para dejar de recibir estos recordatorios" in body
        assert UNSUBSCRIBE in body
        assert "appointment" not in body.lower()
    assert '<html lang="es">' in message.html
    assert message.header("List-Unsubscribe") == f"<{UNSUBSCRIBE}>"
    assert message.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"


@pytest.mark.parametrize(
    ("starts_at", "shown", "weekday"),
    [
        # The same 14:00 UTC is 08:00 before the March change and 09:00 after it.
        (datetime.datetime(2027, 3, 13, 14, 0, tzinfo=UTC), "08:00 CST", "Saturday 13 March"),
        (MARCH, "09:00 CDT", "Monday 15 March"),
        # 15:00 UTC is 10:00 before the November change and 09:00 after it.
        (datetime.datetime(2027, 11, 6, 15, 0, tzinfo=UTC), "10:00 CDT", "Saturday 6 November"),
        (NOVEMBER, "09:00 CST", "Monday 8 November"),
    ],
)
def test_the_time_shown_is_the_clinics_local_time_on_that_date_across_daylight_saving_changes(
    starts_at: datetime.datetime, shown: str, weekday: str
) -> None:
    message = sent(reminder_message(content(starts_at=starts_at, ends_at=starts_at + datetime.timedelta(minutes=50))))

    assert message.subject == f"Reminder: your appointment on {weekday} at {shown[:5]}"
    assert f"{weekday} 2027 at {shown}" in message.text
    assert f"{weekday} 2027 at {shown}" in message.html


def test_one_oclock_is_singular_in_spanish() -> None:
    one_am = datetime.datetime(2027, 1, 5, 7, 0, tzinfo=UTC)
    message = sent(
        reminder_message(content(language="es", starts_at=one_am, ends_at=one_am + datetime.timedelta(hours=1)))
    )

    assert message.subject == "Recordatorio: su cita el martes 5 de enero a la 01:00"


def test_a_zone_without_an_abbreviation_is_shown_as_a_utc_offset() -> None:
    message = sent(reminder_message(content(time_zone="America/Sao_Paulo")))

    assert "Monday 15 March 2027 at 11:00 UTC-03" in message.text


def test_the_calendar_file_has_the_utc_times_uid_and_place_and_nothing_else_about_the_visit() -> None:
    message = sent(reminder_message(content()))

    part = next(part for part in message.mime.walk() if part.get_content_type() == "text/calendar")
    assert part.get_param("method") == "PUBLISH"
    assert part.get_filename() == "appointment.ics"
    calendar = message.calendar
    assert calendar["METHOD"] == "PUBLISH"
    (event,) = calendar.events
    assert event.decoded("DTSTART") == MARCH
    assert event.decoded("DTEND") == MARCH + datetime.timedelta(minutes=50)
    assert event["UID"] == "5b0c6f6e-8f7a-4d0e-9a51-2d0c1f9e3c11"
    assert event["SUMMARY"] == "Appointment at Riverbend Health"
    assert event["LOCATION"] == "Suite 200, 41 Elm Street"
    assert "DESCRIPTION" not in event
    assert "DTSTART:20270315T140000Z" in (message.ics or "")


# Text a clinic can store (no lone surrogates) without backslashes: icalendar's parser reads an
# escaped backslash before "n" as a newline
# (the escaping itself is checked on its own below).
_ICS_TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\\"), max_size=200)


@given(
    clinic=_ICS_TEXT.filter(str.strip),
    place=_ICS_TEXT,
    uid=st.text(alphabet=st.characters(codec="ascii", categories=["L", "N", "P"], exclude_characters="\\"), min_size=1),
)
def test_any_clinic_name_and_place_survive_the_calendar_file(clinic: str, place: str, uid: str) -> None:
    assume(not forbidden_words_in(f"{clinic} {place}"))
    ics = reminder_message(content(clinic_name=clinic, location=place, uid=uid)).attachments[0]
    raw = ics.get_payload(decode=True)

    assert all(len(line) <= 75 for line in raw.split(b"\r\n")), "RFC 5545 folds lines at 75 octets"
    (event,) = icalendar.Calendar.from_ical(raw).events
    # Names and places are one line in a calendar, as in a mail header.
    assert str(event["SUMMARY"]) == f"Appointment at {' '.join(clinic.split())}"
    assert str(event.get("LOCATION", "")) == " ".join(place.split())
    assert str(event["UID"]) == uid
    assert event.decoded("DTSTART") == MARCH


def test_the_calendar_escapes_text_as_rfc_5545_says() -> None:
    ics = reminder_message(content(location="Suite 2; Annex, back\\door")).attachments[0]

    assert "LOCATION:Suite 2\\; Annex\\, back\\\\door\r\n" in ics.get_payload(decode=True).decode()


def test_a_telehealth_appointment_links_the_call_in_both_bodies_and_the_calendar() -> None:
    message = sent(reminder_message(content(language="es", location="", telehealth_url=TELEHEALTH)))

    assert f"Enlace para conectarse: {TELEHEALTH}" in message.text
    assert f'<a href="{TELEHEALTH}">{TELEHEALTH}</a>' in message.html
    assert "Dónde" not in message.text
    (event,) = message.calendar.events
    assert event["LOCATION"] == TELEHEALTH
    assert event["SUMMARY"] == "Cita en Riverbend Health"
    part = next(part for part in message.mime.walk() if part.get_content_type() == "text/calendar")
    assert part.get_filename() == "cita.ics"


def test_without_a_clinic_phone_the_patient_is_asked_to_get_in_touch() -> None:
    message = sent(reminder_message(content(clinic_phone="")))

    assert "To change or cancel, please contact Riverbend Health." in message.text
    assert " at ." not in message.text


def test_the_sender_name_is_the_clinics_unless_one_is_given() -> None:
    named = sent(reminder_message(content(sender_name="Riverbend Front Desk")))
    accented = sent(reminder_message(content(clinic_name="Salud del Río")))

    assert named.header("From") == "Riverbend Front Desk <reminders@mail.example.org>"
    assert accented.header("From") == "Salud del Río <reminders@mail.example.org>"


def test_only_the_address_of_the_default_sender_is_used(settings: Any) -> None:
    settings.DEFAULT_FROM_EMAIL = "Product Name <noreply@mail.example.org>"

    message = sent(reminder_message(content()))

    assert message.header("From") == "Riverbend Health <noreply@mail.example.org>"


def test_a_newline_in_a_clinic_name_cannot_add_a_header() -> None:
    message = sent(reminder_message(content(clinic_name="Riverbend\nBcc: someone@example.org")))

    assert message.mime["Bcc"] is None
    assert email.utils.getaddresses([message.header("From")]) == [
        ("Riverbend Bcc: someone@example.org", "reminders@mail.example.org")
    ]


def test_html_is_escaped_and_the_text_part_is_not() -> None:
    message = sent(
        reminder_message(content(clinic_name="O'Neil & Daughters", location="<script>alert(1)</script> Room 4"))
    )

    assert "<script>" not in message.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Room 4" in message.html
    assert "O&#x27;Neil &amp; Daughters" in message.html
    assert "<script>alert(1)</script> Room 4" in message.text
    assert "O'Neil & Daughters" in message.text
    (event,) = message.calendar.events
    assert event["LOCATION"] == "<script>alert(1)</script> Room 4"


def test_a_missed_session_note_asks_the_patient_to_call_and_has_no_calendar_file() -> None:
    english = sent(missed_session_message(content()))
    spanish = sent(missed_session_message(content(language="es")))

    assert english.subject == "We missed you on Monday 15 March — call us at +1 312-555-0100 to reschedule"
    assert spanish.subject == (
        "Le esperábamos el lunes 15 de marzo: llámenos al +1 312-555-0100 para programar una nueva cita"
    )
    for body in (english.text, english.html):
        assert "We missed you at your appointment at Riverbend Health on Monday 15 March 2027 at 09:00 CDT." in body
        assert "Please call us at +1 312-555-0100 to book a new time." in body
        assert UNSUBSCRIBE in body
    for body in (spanish.text, spanish.html):
        assert "Le esperábamos en Riverbend Health el lunes 15 de marzo de 2027 a las 09:00 CDT." in body
        assert "Llámenos al +1 312-555-0100 para programar una nueva cita." in body
    for message in (english, spanish):
        assert message.ics is None
        assert message.header("List-Unsubscribe") == f"<{UNSUBSCRIBE}>"
        assert message.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"


def test_a_missed_session_note_without_a_phone_still_makes_sense() -> None:
    message = sent(missed_session_message(content(clinic_phone="  ", language="es")))

    assert message.subject == (
        "Le esperábamos el lunes 15 de marzo: comuníquese con nosotros para programar una nueva cita"
    )
    assert "Comuníquese con nosotros para programar una nueva cita." in message.text


@pytest.mark.parametrize("build", [reminder_message, missed_session_message])
@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("phone", ["+1 312-555-0100", ""])
@pytest.mark.parametrize(("location", "telehealth"), [("Suite 200", ""), ("", TELEHEALTH), ("Suite 200", TELEHEALTH)])
def test_no_message_says_anything_about_the_kind_of_care(
    build: Any, language: str, phone: str, location: str, telehealth: str
) -> None:
    message = sent(build(content(language=language, clinic_phone=phone, location=location, telehealth_url=telehealth)))

    for text in message.everything():
        assert forbidden_words_in(text) == [], text


def checkin_content(**overrides: Any) -> CheckInContent:
    fields: dict[str, Any] = {
        "clinic_name": "Riverbend Health",
        "clinic_phone": "+1 312-555-0100",
        "recipient": "pat@example.org",
        "language": "en",
        "checkin_url": "https://reminders.example.org/c/abc123.STAMP.SIGNATURE/",
        "opt_out_url": "https://reminders.example.org/c/stop/abc123.SIGNATURE/",
        "link_hours": 72,
        "sender_name": "",
    }
    fields.update(overrides)
    return CheckInContent(**fields)


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("phone", ["+1 312-555-0100", ""])
def test_no_checkin_message_says_anything_about_the_kind_of_care(language: str, phone: str) -> None:
    message = sent(checkin_message(checkin_content(language=language, clinic_phone=phone)))

    assert message.ics is None
    for text in message.everything():
        assert forbidden_words_in(text) == [], text


NEUTRAL = st.sampled_from(
    ["Riverbend", "Oak", "Lakeside", "Health", "Family", "Center", "Northside", "Salud", "Río", "Clínica", "Maple"]
)
# Hypothesis takes naive bounds and attaches the time zone itself.
EARLIEST = datetime.datetime(2026, 1, 1)  # noqa: DTZ001
LATEST = datetime.datetime(2030, 12, 31)  # noqa: DTZ001
PLACES = st.sampled_from(["Suite 200", "Room 4", "41 Elm Street", "Edificio B", "Planta 2", "Calle Mayor 7"])


@given(
    clinic=st.lists(NEUTRAL, min_size=1, max_size=4).map(" ".join),
    place=st.lists(PLACES, max_size=2).map(", ".join),
    language=st.sampled_from(["en", "es"]),
    zone=st.sampled_from(["America/Chicago", "America/New_York", "America/Los_Angeles", "America/Puerto_Rico"]),
    starts_at=st.datetimes(min_value=EARLIEST, max_value=LATEST, timezones=st.just(UTC)),
    missed=st.booleans(),
)
def test_no_neutral_clinic_name_place_or_date_produces_a_revealing_message(
    clinic: str, place: str, language: str, zone: str, starts_at: datetime.datetime, missed: bool
) -> None:
    build = missed_session_message if missed else reminder_message
    message = decoded(
        build(
            content(
                clinic_name=clinic,
                location=place,
                language=language,
                time_zone=zone,
                starts_at=starts_at,
                ends_at=starts_at + datetime.timedelta(minutes=45),
            )
        )
    )

    for text in message.everything():
        assert forbidden_words_in(text) == [], text
    assert clinic in message.text


@given(
    clinic=st.lists(NEUTRAL, min_size=1, max_size=4).map(" ".join),
    language=st.sampled_from(["en", "es"]),
    hours=st.integers(min_value=1, max_value=720),
)
def test_no_neutral_clinic_name_produces_a_revealing_checkin_message(clinic: str, language: str, hours: int) -> None:
    message = decoded(checkin_message(checkin_content(clinic_name=clinic, language=language, link_hours=hours)))

    for text in message.everything():
        assert forbidden_words_in(text) == [], text
    assert clinic in message.text


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Lakeside Recovery Center", ["recovery"]),
        ("Nashville Sudden Health", []),
        ("NA meeting", ["na"]),
        ("Counselling suite", ["counsel"]),
        ("Centro de ADICCIONES", ["adicción", "adicciones"]),
        ("Programa de adiccion", ["adicción"]),
        ("SMART Recovery group", ["recovery", "smart recovery"]),
        ("Psiquiatría, planta 2", ["psiquiatr"]),
        ("Riverbend Health, Suite 200", []),
    ],
)
def test_the_forbidden_word_check_matches_whole_words_prefixes_phrases_and_ignores_accents(
    text: str, found: list[str]
) -> None:
    assert forbidden_words_in(text) == found


def test_the_forbidden_words_include_the_ones_everyone_expects() -> None:
    expected = {"addiction", "substance", "recovery", "relapse", "rehab", "detox", "treatment", "therapy"}
    expected |= {"methadone", "buprenorphine", "suboxone", "naltrexone", "opioid", "alcohol", "drug", "sud"}
    expected |= {"aa", "na", "smart recovery", "psychiatr", "counsel", "adicción", "sustancia", "recuperación"}
    expected |= {"recaída", "desintoxicación", "tratamiento", "terapia", "metadona", "buprenorfina", "naltrexona"}
    expected |= {"opioide", "droga", "psiquiatr"}
    assert expected <= set(FORBIDDEN_WORDS)
    assert all(word == word.lower() for word in FORBIDDEN_WORDS)


@pytest.mark.parametrize(
    "overrides",
    [
        {"language": "fr"},
        {"recipient": ""},
        {"starts_at": datetime.datetime(2027, 3, 15, 9, 0)},  # noqa: DTZ001 - naive on purpose
        {"ends_at": MARCH},
        {"time_zone": "Central Time"},
        {"unsubscribe_url": "/r/unsubscribe/x/"},
        {"telehealth_url": "javascript:alert(1)"},
        {"uid": ""},
    ],
)
def test_content_that_would_make_a_broken_or_unsafe_message_is_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        content(**overrides)
