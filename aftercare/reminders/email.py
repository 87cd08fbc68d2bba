"""Reminder emails to patients: an appointment reminder (with an .ics) and a missed-appointment note.

Anyone may read a patient's email: a housemate, a family member, an employer's shared computer.
So every word a message carries (subject, both bodies, headers, the calendar file) says only
"appointment" and the clinic's public name: never the kind of care, a medication or a diagnosis.
`clinic.privacy.FORBIDDEN_WORDS` lists what must never appear: the fields a clinic fills in for
patients to read are validated against it, and the tests check every message against it.

Dates are formatted here, per language, rather than through the process locale: a worker's
locale is whatever its container happens to have, and a Spanish reminder must say "martes".
"""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass
from email.mime.text import MIMEText
from email.utils import formataddr, parseaddr
from typing import Any
from urllib.parse import urlsplit

import icalendar
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from aftercare.reminders.mime import ReminderEmail
from clinic.privacy import forbidden_words_in

LANGUAGES = ("en", "es")

_WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
}
_MONTHS = {
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    "es": (
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ),
}

# Every sentence a patient reads, per language. Placeholders are filled with str.format before the
# templates see them; the HTML template escapes the result, the text template does not need to.
_STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "reminder_subject": "Reminder: your appointment on {day} {at_time}",
        "missed_subject_phone": "We missed you on {day} — call us at {phone} to reschedule",
        "missed_subject": "We missed you on {day} — please contact us to reschedule",
        "greeting": "Hello,",
        "reminder_intro": "This is a reminder of your appointment at {clinic}.",
        "missed_intro": "We missed you at your appointment at {clinic} on {when}.",
        "when": "When",
        "where": "Where",
        "online": "Join online",
        "change_phone": "To change or cancel, please call {clinic} at {phone}.",
        "change": "To change or cancel, please contact {clinic}.",
        "reschedule_phone": "Please call us at {phone} to book a new time. We hope to see you soon.",
        "reschedule": "Please contact us to book a new time. We hope to see you soon.",
        "calendar": "A calendar file is attached so you can add this appointment to your calendar.",
        "unsubscribe": "To stop receiving these reminders",
        "summary": "Appointment at {clinic}",
        "ics_filename": "appointment.ics",
    },
    "es": {
        "reminder_subject": "Recordatorio: su cita el {day} {at_time}",
        "missed_subject_phone": "Le esperábamos el {day}: llámenos al {phone} para programar una nueva cita",
        "missed_subject": "Le esperábamos el {day}: comuníquese con nosotros para programar una nueva cita",
        "greeting": "Hola:",
        "reminder_intro": "Le recordamos su cita en {clinic}.",
        "missed_intro": "Le esperábamos en {clinic} el {when}.",
        "when": "Cuándo",
        "where": "Dónde",
        "online": "Enlace para conectarse",
        "change_phone": "Si necesita cambiar o cancelar la cita, llame a {clinic} al {phone}.",
        "change": "Si necesita cambiar o cancelar la cita, comuníquese con {clinic}.",
        "reschedule_phone": "Llámenos al {phone} para programar una nueva cita. Esperamos verle pronto.",
        "reschedule": "Comuníquese con nosotros para programar una nueva cita. Esperamos verle pronto.",
        "calendar": "Adjuntamos un archivo de calendario para que pueda agregar la cita a su calendario.",
        "unsubscribe": "Para dejar de recibir estos recordatorios",
        "summary": "Cita en {clinic}",
        "ics_filename": "cita.ics",
    },
}

_TEMPLATES = "aftercare/reminders/"
# Neutral on purpose: calendar apps show the PRODID in an event's details.
_PRODID = "-//Appointment reminders//EN"


class InvalidContent(ValueError):
    """A message that must not be sent. The message names the field, never its value."""


def _require_aware(name: str, value: datetime.datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidContent(f"{name} must be an aware datetime")


def _require_web_url(name: str, value: str) -> None:
    # A link a patient clicks must be a web page: never javascript:, data: or a relative path.
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise InvalidContent(f"{name} must be an absolute http(s) URL")


@dataclass(frozen=True)
class ReminderContent:
    """Everything a reminder may say, already reduced to what is safe to show: no clinical fields."""

    clinic_name: str  # the clinic's public_name, never its internal name
    clinic_phone: str
    recipient: str
    language: str  # "en" or "es"
    starts_at: datetime.datetime  # aware; converted to `time_zone` for display, to UTC for the .ics
    ends_at: datetime.datetime
    time_zone: str  # IANA name, e.g. "America/Chicago"
    location: str
    telehealth_url: str
    unsubscribe_url: str
    uid: str  # stable across reminders for one appointment, so calendars update rather than duplicate
    sender_name: str = ""

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            raise InvalidContent(f"language must be one of {LANGUAGES}")
        if not self.recipient:
            raise InvalidContent("recipient is required")
        _require_aware("starts_at", self.starts_at)
        _require_aware("ends_at", self.ends_at)
        if self.ends_at <= self.starts_at:
            raise InvalidContent("ends_at must be after starts_at")
        try:
            zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise InvalidContent("time_zone must be an IANA time zone name") from None
        _require_web_url("unsubscribe_url", self.unsubscribe_url)
        if self.telehealth_url:
            _require_web_url("telehealth_url", self.telehealth_url)
        if not self.uid:
            raise InvalidContent("uid is required")
        # The forms and the API refuse such text; this catches rows written before they did.
        for name in ("clinic_name", "sender_name", "location", "telehealth_url"):
            if forbidden_words_in(getattr(self, name)):
                raise InvalidContent(f"{name} is not neutral enough for a patient's email")


def _local(content: ReminderContent) -> datetime.datetime:
    return content.starts_at.astimezone(zoneinfo.ZoneInfo(content.time_zone))


def _day(moment: datetime.datetime, language: str) -> str:
    """ "Tuesday 10 March" / "martes 10 de marzo"."""
    weekday = _WEEKDAYS[language][moment.weekday()]
    month = _MONTHS[language][moment.month - 1]
    if language == "es":
        return f"{weekday} {moment.day} de {month}"
    return f"{weekday} {moment.day} {month}"


def _zone_label(moment: datetime.datetime, time_zone: str) -> str:
    abbreviation = moment.tzname() or time_zone
    # Zones without a common abbreviation are named by their offset ("-03"): say which offset.
    if abbreviation[:1] in {"+", "-"}:
        return f"UTC{abbreviation}"
    return abbreviation


def _at_time(moment: datetime.datetime, language: str) -> str:
    """ "at 18:00" / "a las 18:00" (but "a la 01:00": one o'clock is singular in Spanish)."""
    if language == "es":
        return f"{'a la' if moment.hour == 1 else 'a las'} {moment:%H:%M}"
    return f"at {moment:%H:%M}"


def _when(moment: datetime.datetime, language: str, time_zone: str) -> str:
    """ "Tuesday 10 March 2026 at 18:00 CDT" / "martes 10 de marzo de 2026 a las 18:00 CDT"."""
    year = f"de {moment.year}" if language == "es" else str(moment.year)
    return f"{_day(moment, language)} {year} {_at_time(moment, language)} {_zone_label(moment, time_zone)}"


def _from_header(content: ReminderContent) -> str:
    # DEFAULT_FROM_EMAIL may itself carry a display name: keep only its address.
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or settings.DEFAULT_FROM_EMAIL
    # A display name is one line: a newline here would be a header injection.
    name = " ".join((content.sender_name or content.clinic_name).split())
    return formataddr((name, address))


def _headers(content: ReminderContent) -> dict[str, str]:
    return {
        # RFC 2369 and RFC 8058: mail providers show an "unsubscribe" button that POSTs here.
        "List-Unsubscribe": f"<{content.unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        # RFC 3834: keeps out-of-office replies from coming back to the sending address.
        "Auto-Submitted": "auto-generated",
    }


def _context(content: ReminderContent, strings: dict[str, str], when: str) -> dict[str, Any]:
    phone = content.clinic_phone.strip()
    fill = {"clinic": content.clinic_name, "phone": phone, "when": when}
    return {
        "language": content.language,
        "clinic_name": content.clinic_name,
        "greeting": strings["greeting"],
        "when_label": strings["when"],
        "when": when,
        "where_label": strings["where"],
        "location": content.location.strip(),
        "online_label": strings["online"],
        "telehealth_url": content.telehealth_url,
        "change": strings["change_phone" if phone else "change"].format(**fill),
        "reschedule": strings["reschedule_phone" if phone else "reschedule"].format(**fill),
        "calendar": strings["calendar"],
        "unsubscribe_label": strings["unsubscribe"],
        "unsubscribe_url": content.unsubscribe_url,
        "reminder_intro": strings["reminder_intro"].format(**fill),
        "missed_intro": strings["missed_intro"].format(**fill),
    }


def _message(
    content: ReminderContent, *, subject: str, template: str, context: dict[str, Any], connection: Any
) -> EmailMultiAlternatives:
    message = ReminderEmail(
        # A subject is one line; a clinic name with a newline must not break the header.
        subject=" ".join(subject.split()),
        body=render_to_string(f"{_TEMPLATES}{template}.txt", context),
        from_email=_from_header(content),
        to=[content.recipient],
        headers=_headers(content),
        connection=connection,
    )
    message.attach_alternative(render_to_string(f"{_TEMPLATES}{template}.html", context), "text/html")
    return message


def _ics_text(value: str) -> str:
    """A one-line TEXT value (a name, a place), escaped as RFC 5545 section 3.3.11 says
    (backslash, semicolon, comma)."""
    return str(icalendar.vText(" ".join(value.split())).to_ical().decode("utf-8"))


def _ics_time(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def _ics_fold(line: str) -> str:
    """RFC 5545 section 3.1: lines longer than 75 octets continue on the next line after a space,
    never splitting a UTF-8 character."""
    if len(line.encode("utf-8")) <= 75:
        return line
    pieces: list[str] = []
    current, size = "", 0
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > (75 if not pieces else 74):
            pieces.append(current)
            current, size = "", 0
        current += char
        size += width
    pieces.append(current)
    return "\r\n ".join(pieces)


def _calendar(content: ReminderContent, strings: dict[str, str]) -> bytes:
    # Written line by line: a reminder is one small event with a fixed shape, and building it
    # through icalendar's component tree cost more than the rest of the message together (about
    # a millisecond a message, see bench/reminders.py). icalendar still escapes the text values,
    # and the tests parse every calendar back with it.
    lines = [
        "BEGIN:VCALENDAR",
        f"PRODID:{_PRODID}",
        "VERSION:2.0",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"SUMMARY:{_ics_text(strings['summary'].format(clinic=content.clinic_name))}",
        f"DTSTART:{_ics_time(content.starts_at)}",
        f"DTEND:{_ics_time(content.ends_at)}",
        f"DTSTAMP:{_ics_time(datetime.datetime.now(datetime.UTC))}",
        f"UID:{_ics_text(content.uid)}",
    ]
    where = content.location.strip() or content.telehealth_url
    if where:
        lines.append(f"LOCATION:{_ics_text(where)}")
    if content.telehealth_url:
        lines.append(f"URL:{content.telehealth_url}")  # a URI value: not TEXT-escaped
    # No DESCRIPTION: it is where calendar invitations usually put notes, and notes are clinical.
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "".join(f"{_ics_fold(line)}\r\n" for line in lines).encode("utf-8")


def _calendar_part(content: ReminderContent, strings: dict[str, str]) -> MIMEText:
    # Built by hand because Django's attach() cannot add the `method` parameter calendar apps read.
    part = MIMEText(_calendar(content, strings).decode("utf-8"), "calendar", "utf-8")
    part.set_param("method", "PUBLISH")
    part.add_header("Content-Disposition", "attachment", filename=strings["ics_filename"])
    return part


def reminder_message(content: ReminderContent, *, connection: Any = None) -> EmailMultiAlternatives:
    """An appointment reminder: text and HTML bodies, List-Unsubscribe headers and an .ics."""
    strings = _STRINGS[content.language]
    local = _local(content)
    context = _context(content, strings, _when(local, content.language, content.time_zone))
    subject = strings["reminder_subject"].format(
        day=_day(local, content.language), at_time=_at_time(local, content.language)
    )
    message = _message(content, subject=subject, template="appointment", context=context, connection=connection)
    message.attach(_calendar_part(content, strings))
    return message


def missed_session_message(content: ReminderContent, *, connection: Any = None) -> EmailMultiAlternatives:
    """A note after a missed appointment asking the patient to get in touch: no .ics."""
    strings = _STRINGS[content.language]
    local = _local(content)
    context = _context(content, strings, _when(local, content.language, content.time_zone))
    phone = content.clinic_phone.strip()
    subject = strings["missed_subject_phone" if phone else "missed_subject"].format(
        day=_day(local, content.language), phone=phone
    )
    return _message(content, subject=subject, template="missed", context=context, connection=connection)
