"""Writing a reminder's MIME message cheaply, byte for byte as Python's email package writes it.

Django turns a message into bytes with the standard library's generator (`compat32` policy). For
a reminder (three parts, about twenty headers) that cost more than building the message itself:
most of it went to folding headers, each one through an `email.header.Header` even when it is a
short line of ASCII that is written as it stands, and the rest to compiling a regular expression
for each multipart boundary, made up and then searched for in the text.

`ReminderEmail.message()` returns the same message with two things settled in advance:

- its policy writes a header that is ASCII, on one line, and short enough not to be folded as
  `compat32` would write it (`Name: value`), and hands every other header to `compat32`;
- each multipart part has its boundary already, so the generator neither makes one nor searches
  for it: a secret made once per process (128 random bits) and a decimal counter, as one word.
  Parts of one message never share one, and no text of a message can contain one: whoever
  writes a clinic's text cannot know it. (A hex counter after a dot once wrote `.aa`, which the privacy check
  rightly read as a word.)

tests/aftercare/test_reminder_mime.py checks the bytes against the standard library's own for
every kind of reminder and for random headers.
"""

from __future__ import annotations

import itertools
import secrets
from email._policybase import Compat32
from email.message import Message
from typing import Any

from django.core.mail import EmailMultiAlternatives


class ShortHeadersAsWritten(Compat32):
    """`compat32`, except that a header it would not fold or encode is written without asking it."""

    def _fold(self, name: str, value: Any, sanitize: bool) -> str:
        if (
            isinstance(value, str)
            and value.isascii()
            and len(name) + 2 + len(value) <= (self.max_line_length or 78)
            and "\r" not in value
            and "\n" not in value
        ):
            return f"{name}: {value}{self.linesep}"
        return str(super()._fold(name, value, sanitize))  # type: ignore[misc]


SHORT_HEADERS_AS_WRITTEN = ShortHeadersAsWritten()

_BOUNDARY_SECRET = secrets.token_hex(16)
_boundaries = itertools.count()  # next() is atomic: sending threads may share it


def settle_for_writing(message: Message) -> Message:
    """`message` with the policy above and a boundary for each of its multipart parts."""
    message.policy = SHORT_HEADERS_AS_WRITTEN
    for part in message.walk():
        if part.is_multipart() and not part.get_boundary():
            part.set_boundary(f"=_{_BOUNDARY_SECRET}{next(_boundaries)}")  # one word, no hex of its own
    return message


class ReminderEmail(EmailMultiAlternatives):
    """A reminder's email: Django's, written out cheaply (above)."""

    def message(self) -> Any:
        return settle_for_writing(super().message())
