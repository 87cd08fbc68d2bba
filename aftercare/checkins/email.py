"""The check-in email: a short neutral note, the private link, and a one-click opt-out.

As with reminders (aftercare/reminders/email.py), anyone may read a patient's email, so the
message says only "check-in" and the clinic's public name: never the kind of care, a substance,
a medication or a diagnosis (`clinic.privacy.FORBIDDEN_WORDS`; the tests check every word).
The opt-out link stops check-ins only, and is also the `List-Unsubscribe` header (RFC 8058).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import formataddr, parseaddr
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from aftercare.reminders.email import LANGUAGES, InvalidContent
from clinic.privacy import forbidden_words_in

_STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "subject": "A quick check-in from {clinic}",
        "greeting": "Hello,",
        "intro": "{clinic} would like to know how your week has been.",
        "ask": "Please answer a few short questions. It takes about two minutes.",
        "button": "Answer the check-in",
        "private": "This link is just for you and works for {hours} hours.",
        "phone": "If you would like to talk to someone, call {clinic} at {phone}.",
        "opt_out": "To stop receiving these check-ins",
    },
    "es": {
        "subject": "Un breve seguimiento de {clinic}",
        "greeting": "Hola:",
        "intro": "En {clinic} queremos saber cómo le ha ido esta semana.",
        "ask": "Responda unas preguntas breves, por favor. Toma unos dos minutos.",
        "button": "Responder el seguimiento",
        "private": "Este enlace es solo para usted y funciona durante {hours} horas.",
        "phone": "Si desea hablar con alguien, llame a {clinic} al {phone}.",
        "opt_out": "Para dejar de recibir estos seguimientos",
    },
}


def _require_web_url(name: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise InvalidContent(f"{name} must be an absolute http(s) URL")


@dataclass(frozen=True)
class CheckInContent:
    """Everything a check-in email may say: no clinical field, nothing about the patient."""

    clinic_name: str  # the clinic's public name
    clinic_phone: str
    recipient: str
    language: str
    checkin_url: str
    opt_out_url: str
    link_hours: int
    sender_name: str = ""

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            raise InvalidContent(f"language must be one of {LANGUAGES}")
        if not self.recipient:
            raise InvalidContent("recipient is required")
        _require_web_url("checkin_url", self.checkin_url)
        _require_web_url("opt_out_url", self.opt_out_url)
        # The forms and the API refuse such text; this catches rows written before they did.
        for name in ("clinic_name", "sender_name"):
            if forbidden_words_in(getattr(self, name)):
                raise InvalidContent(f"{name} is not neutral enough for a patient's email")


def _from_header(content: CheckInContent) -> str:
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or settings.DEFAULT_FROM_EMAIL
    # A display name is one line: a newline here would be a header injection.
    return formataddr((" ".join((content.sender_name or content.clinic_name).split()), address))


def checkin_message(content: CheckInContent, *, connection: Any = None) -> EmailMultiAlternatives:
    strings = _STRINGS[content.language]
    phone = content.clinic_phone.strip()
    fill = {"clinic": content.clinic_name, "phone": phone, "hours": content.link_hours}
    context = {
        "language": content.language,
        "clinic_name": content.clinic_name,
        "greeting": strings["greeting"],
        "intro": strings["intro"].format(**fill),
        "ask": strings["ask"],
        "button": strings["button"],
        "checkin_url": content.checkin_url,
        "private": strings["private"].format(**fill),
        "phone": strings["phone"].format(**fill) if phone else "",
        "opt_out_label": strings["opt_out"],
        "opt_out_url": content.opt_out_url,
    }
    message = EmailMultiAlternatives(
        # A subject is one line; a clinic name with a newline must not break the header.
        subject=" ".join(strings["subject"].format(**fill).split()),
        body=render_to_string("aftercare/checkins/email.txt", context),
        from_email=_from_header(content),
        to=[content.recipient],
        headers={
            # RFC 2369 and RFC 8058: the provider's "unsubscribe" button stops check-ins only.
            "List-Unsubscribe": f"<{content.opt_out_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
        connection=connection,
    )
    message.attach_alternative(render_to_string("aftercare/checkins/email.html", context), "text/html")
    return message
