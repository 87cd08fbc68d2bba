"""The one definition of an instant the API accepts, in query parameters and in bodies alike.

RFC 3339 (what OpenAPI's `date-time` means): a full date and time with an explicit offset. A
date-time without one would be read in some zone the caller never chose, so it is refused rather
than shifted silently.
"""

from __future__ import annotations

import datetime
import re

_DATE_TIME = r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?"
_OFFSET = r"(?:[Zz]|[+-]\d{2}:\d{2})"
RFC3339 = re.compile(_DATE_TIME + _OFFSET)
# The same date-time with the offset left out: the mistake worth its own message.
WITHOUT_OFFSET = re.compile(_DATE_TIME)

EXAMPLE = "2027-01-05T09:00:00-05:00"
NO_OFFSET_TEXT = f"Needs an offset, e.g. {EXAMPLE}."
INVALID_TEXT = f"Enter a date-time with an offset (RFC 3339), e.g. {EXAMPLE}."


class NoOffset(ValueError):
    """A date and time without an offset."""


def parse_instant(text: str) -> datetime.datetime:
    """The instant `text` names, in UTC (PostgreSQL takes offsets up to ±15:59 only, Python up to
    ±23:59). Raises `NoOffset` for a date-time without an offset, ValueError for anything else."""
    if not RFC3339.fullmatch(text):
        raise NoOffset(text) if WITHOUT_OFFSET.fullmatch(text) else ValueError(text)
    try:
        return datetime.datetime.fromisoformat(text.replace("z", "Z")).astimezone(datetime.UTC)
    except OverflowError:
        raise ValueError(text) from None
