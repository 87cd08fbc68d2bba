"""Filters the dashboard's templates share: people by name, times in the clinic's zone."""

from __future__ import annotations

import datetime
from typing import Any

from django import template
from django.utils import dateformat, timezone

from aftercare.dashboard.pages import name_of

register = template.Library()


@register.filter
def person(user: Any) -> str:
    """A staff member by name (never an id); an empty string for nobody."""
    return name_of(user)


@register.filter
def local(moment: datetime.datetime | None, style: str = "full") -> str:
    """An instant in the clinic's time zone (the page renders in it): `full` "Tue 24 Nov 2026
    14:00", `day` "Tue 24 Nov", `time` "14:00", `date` "24 Nov 2026"."""
    if moment is None:
        return ""
    if isinstance(moment, datetime.datetime):
        moment = timezone.localtime(moment)
    return dateformat.format(moment, _FORMATS.get(style, _FORMATS["full"]))


# Django's formats, in the active language (staff pages are English), never the process locale.
_FORMATS = {"full": "D j M Y H:i", "day": "D j M", "time": "H:i", "date": "j M Y", "dayyear": "D j M Y"}
