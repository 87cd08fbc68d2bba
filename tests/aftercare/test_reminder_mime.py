"""A reminder's MIME message is written cheaply (aftercare.reminders.mime) and byte for byte as the
standard library writes the same message."""

from __future__ import annotations

import email
import email.policy
import io
from email._policybase import compat32
from email.generator import BytesGenerator
from email.message import Message
from typing import Any

import pytest
from django.core.mail import EmailMultiAlternatives
from hypothesis import example, given
from hypothesis import strategies as st

from aftercare.reminders.email import missed_session_message, reminder_message
from aftercare.reminders.mime import SHORT_HEADERS_AS_WRITTEN, ReminderEmail
from tests.aftercare.test_reminder_email import TELEHEALTH, content

VARIANTS = {
    "English, in person": {},
    "Spanish, online, a long name": {
        "language": "es",
        "location": "",
        "telehealth_url": TELEHEALTH,
        "clinic_name": "Clínica de Salud Comunitaria del Río Grande y los Valles del Norte",
    },
    "both places, no phone": {"telehealth_url": TELEHEALTH, "clinic_phone": ""},
}


def standard_bytes(message: Message) -> bytes:
    """What the standard library writes for `message` (its boundaries as they are)."""
    written = io.BytesIO()
    BytesGenerator(written, mangle_from_=False, policy=compat32.clone(linesep="\r\n")).flatten(message)
    return written.getvalue()


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("build", [reminder_message, missed_session_message], ids=["reminder", "missed"])
def test_a_reminder_is_written_as_the_standard_library_writes_it(variant: str, build: Any, settings: Any) -> None:
    settings.DEFAULT_FROM_EMAIL = "reminders@mail.example.org"
    sent = build(content(**VARIANTS[variant]))
    assert isinstance(sent, ReminderEmail)
    mime = sent.message()
    assert mime.policy is SHORT_HEADERS_AS_WRITTEN
    written = mime.as_bytes(linesep="\r\n")
    assert written == standard_bytes(mime)

    # Every multipart part has a boundary of its own that no text of the message contains, and
    # the message reads back as the one Django would have written.
    boundaries = [part.get_boundary() for part in mime.walk() if part.is_multipart()]
    assert boundaries
    assert len(set(boundaries)) == len(boundaries)
    for boundary in boundaries:
        assert written.count(f"--{boundary}\r\n".encode()) == len(
            next(p for p in mime.walk() if p.get_boundary() == boundary).get_payload()
        )
    django_written = EmailMultiAlternatives.message(sent).as_bytes(linesep="\r\n")
    ours, theirs = (email.message_from_bytes(b, policy=email.policy.default) for b in (written, django_written))
    assert [(p.get_content_type(), p.get_payload(decode=True)) for p in ours.walk()] == [
        (p.get_content_type(), p.get_payload(decode=True)) for p in theirs.walk()
    ]
    for name in ("Subject", "From", "To", "List-Unsubscribe", "Auto-Submitted"):
        assert str(ours[name]) == str(theirs[name]), name


PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from("\t é—")


@given(
    name=st.sampled_from(["Subject", "To", "From", "List-Unsubscribe", "X-A"]),
    value=st.text(PRINTABLE, max_size=120) | st.text(st.sampled_from("ab \t=?"), max_size=90),
)
# Lines of words about the length where compat32 starts to fold: 78 characters with the name.
@example(name="Subject", value=("word " * 16)[:69])
@example(name="Subject", value=("word " * 16)[:70])
@example(name="Subject", value=("word " * 16)[:71])
@example(name="Subject", value=("word " * 16)[:72])
def test_any_header_is_folded_as_the_standard_library_folds_it(name: str, value: str) -> None:
    for linesep in ("\n", "\r\n"):
        ours = SHORT_HEADERS_AS_WRITTEN.clone(linesep=linesep)
        standard = compat32.clone(linesep=linesep)
        assert ours.fold(name, value) == standard.fold(name, value)
        assert ours.fold_binary(name, value) == standard.fold_binary(name, value)
