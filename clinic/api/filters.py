"""Filters shared by every list endpoint."""

from __future__ import annotations

import datetime
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django_filters.rest_framework import DjangoFilterBackend

from clinic.api import rfc3339


class Rfc3339Field(forms.Field):
    """An instant as RFC 3339 with an offset (`clinic.api.rfc3339`, as in request bodies)."""

    default_error_messages = {"invalid": rfc3339.INVALID_TEXT, "no_offset": rfc3339.NO_OFFSET_TEXT}

    def to_python(self, value: Any) -> datetime.datetime | None:
        if value is None:
            return None
        # Present but empty is a mistake in the caller's sync code, not a request for everything.
        try:
            return rfc3339.parse_instant(str(value).strip())
        except rfc3339.NoOffset:
            raise ValidationError(self.error_messages["no_offset"], code="no_offset") from None
        except ValueError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class InstantFilter(django_filters.Filter):
    """A filter on an instant, given as RFC 3339 with an offset."""

    field_class = Rfc3339Field


class UpdatedSinceFilter(InstantFilter):
    """`updated_since`: records changed at or after this instant, for incremental sync."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("field_name", "updated_at")
        kwargs.setdefault("lookup_expr", "gte")
        kwargs.setdefault(
            "help_text",
            "Only records changed at or after this instant (RFC 3339 with offset, e.g. 2026-11-21T14:30:00Z).",
        )
        super().__init__(**kwargs)


class StrictBooleanField(forms.Field):
    default_error_messages = {"invalid": "Enter true or false."}

    def to_python(self, value: Any) -> bool | None:
        if value is None:
            return None
        text = str(value).strip().lower()
        if text not in ("true", "false"):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return text == "true"


class BooleanFilter(django_filters.BooleanFilter):
    """`true` or `false`; anything else is a 400 (django-filter would read `null` as no filter)."""

    field_class = StrictBooleanField


class StrictFilterSet(django_filters.FilterSet):
    """A filter parameter that is present must have a value: `?status=` is a 400, not 'no filter'.

    django-filter drops empty values, so a client whose sync code lost its timestamp would
    otherwise download everything without noticing.
    """

    def is_valid(self) -> bool:
        valid = super().is_valid()
        getlist = getattr(self.data, "getlist", None)
        for name in self.filters:
            values = getlist(name) if getlist else [self.data.get(name)] if name in self.data else []
            if any(value is not None and not str(value).strip() for value in values):
                self.form.add_error(
                    name, ValidationError("Must not be empty: leave the parameter out instead.", code="invalid")
                )
        return valid and not self.form.errors


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend, minus building a form for a request that filters on nothing."""

    def filter_queryset(self, request: Any, queryset: Any, view: Any) -> Any:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None or not any(name in request.query_params for name in filterset_class.base_filters):
            return queryset
        return super().filter_queryset(request, queryset, view)
