"""Serializer pieces shared by every API resource."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from django.db.models import CharField, Func, QuerySet
from django.utils import timezone
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings


class StrictCharField(serializers.CharField):
    """Text only. DRF's CharField turns a number into its digits ("facilitator": 42 becomes "42"),
    so a client's type mistake passes silently; this refuses it with the field's `invalid` code.
    Model text fields map to it too (`clinic.apps`)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        value: str = super().to_internal_value(data)
        return value


# The instants and dates the API accepts. Outside them a time-zone shift or an added duration
# overflows Python's datetime (years 1 and 9999) and nothing real lies there: births, treatment,
# appointments and consents all fall within these years.
EARLIEST_YEAR = 1900
LATEST_YEAR = 2199
_RANGE_TEXT = f"Must be in the years {EARLIEST_YEAR} to {LATEST_YEAR}."


class InstantField(serializers.DateTimeField):
    """DRF's DateTimeField, refusing instants outside the years the API accepts (code `out_of_range`)."""

    default_error_messages = {"out_of_range": _RANGE_TEXT}

    def to_internal_value(self, value: Any) -> Any:
        instant = super().to_internal_value(value)
        # In UTC as stored: 2199-12-31T23:00-05:00 is already year 2200 there.
        if not EARLIEST_YEAR <= instant.astimezone(datetime.UTC).year <= LATEST_YEAR:
            self.fail("out_of_range")
        return instant


class CalendarDateField(serializers.DateField):
    """DRF's DateField, refusing dates outside the years the API accepts (code `out_of_range`)."""

    default_error_messages = {"out_of_range": _RANGE_TEXT}

    def to_internal_value(self, value: Any) -> datetime.date:
        date = super().to_internal_value(value)
        if not EARLIEST_YEAR <= date.year <= LATEST_YEAR:
            self.fail("out_of_range")
        return date


_AS_IS = (
    serializers.CharField,
    StrictCharField,
    serializers.ChoiceField,
    serializers.BooleanField,
    serializers.EmailField,
    serializers.URLField,
)

# A plan step: (output name, column, kind). Kinds: "as_is", "str", "date", "datetime".
Step = tuple[str, str, str]


def _plain_step(name: str, field: serializers.Field[Any, Any, Any, Any]) -> Step | None:
    """How to render `field` straight from its column, or None when DRF must render it.

    Every kind yields what DRF's JSON output would hold for that field, value for value.
    """
    if len(field.source_attrs) != 1 or field.source == "*":
        return None
    source = field.source_attrs[0]
    if isinstance(field, serializers.PrimaryKeyRelatedField) and field.use_pk_only_optimization():
        return (name, f"{source}_id", "str") if field.pk_field is None else None
    if isinstance(field, serializers.UUIDField) and field.uuid_format == "hex_verbose":
        return name, source, "str"
    date_format = getattr(field, "format", api_settings.DATE_FORMAT)
    if type(field) in (serializers.DateField, CalendarDateField) and date_format == ISO_8601:
        return name, source, "date"
    if type(field) in (serializers.DateTimeField, InstantField) and not hasattr(field, "timezone"):
        if getattr(field, "format", api_settings.DATETIME_FORMAT) == ISO_8601:
            return name, source, "datetime"
        return None
    if type(field) in _AS_IS:
        return name, source, "as_is"
    return None


def _render_datetime(value: Any, zone: Any) -> Any:
    """DRF's DateTimeField output: ISO 8601 in the current zone, with UTC written as 'Z'."""
    if isinstance(value, str) or value.tzinfo is None:
        return None  # let DRF handle (and refuse) what a column never holds
    text: str = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# A list page may fetch an instant already written as the API writes it (see `iso_instant`).
ISO_PREFIX = "_iso_"
_ABSENT = object()


class UtcIsoInstant(Func):
    """An instant as DRF writes it in UTC: `2026-11-22T04:00:00Z`, with `.ffffff` only when there
    are microseconds (as `datetime.isoformat()`). Loading and formatting each instant in Python
    was the larger part of a list page's cost."""

    template = (
        "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
        "CASE WHEN to_char(%(expressions)s, 'US') = '000000' THEN '' ELSE '.' || to_char(%(expressions)s, 'US') END "
        "|| 'Z'"
    )
    output_field = CharField()


class FastReadMixin:
    """Faster output for list pages, identical to DRF's own (tests/clinic/test_serializers.py).

    DRF builds every field of a serializer for every request and resolves each value through
    several calls. When all fields of a serializer are plain columns, the rendering plan is worked
    out once per class and applied straight to the row, which may be a model instance or a
    `.values()` dict (`plain_columns()` says which columns to fetch). Serializers with any other
    field keep DRF's per-field path for those fields.
    """

    _class_plan: ClassVar[list[Step] | None]

    @classmethod
    def plain_plan(cls) -> list[Step] | None:
        if "_class_plan" not in cls.__dict__:
            prototype = cls()
            steps = [
                _plain_step(name, field)
                for name, field in prototype.fields.items()  # type: ignore[attr-defined]
                if not field.write_only
            ]
            cls._class_plan = None if any(step is None for step in steps) else [s for s in steps if s]
        return cls._class_plan

    @classmethod
    def plain_columns(cls) -> list[str] | None:
        plan = cls.plain_plan()
        return None if plan is None else [column for _, column, _ in plan]

    @classmethod
    def instant_columns(cls) -> list[str]:
        """The columns rendered as instants, which a `.values()` page may fetch as text instead
        (`ISO_PREFIX + column` = `UtcIsoInstant(column)`, when the current zone is UTC)."""
        return [column for _, column, kind in cls.plain_plan() or [] if kind == "datetime"]

    def to_representation(self, instance: Any) -> dict[str, Any]:
        plan = type(self).plain_plan()
        if plan is None:
            return super().to_representation(instance)  # type: ignore[misc,no-any-return]
        zone = getattr(self, "_zone", None)
        if zone is None:
            zone = self._zone = timezone.get_current_timezone()
        row = instance if isinstance(instance, dict) else None
        result: dict[str, Any] = {}
        for name, column, kind in plan:
            if row is not None and kind == "datetime":
                text = row.get(ISO_PREFIX + column, _ABSENT)
                if text is not _ABSENT:
                    result[name] = text
                    continue
            value = row[column] if row is not None else getattr(instance, column)
            if value is None or kind == "as_is":
                result[name] = value
            elif kind == "str":
                result[name] = str(value)
            elif kind == "date":
                result[name] = value.isoformat()
            else:
                rendered = _render_datetime(value, zone)
                result[name] = rendered if rendered is not None else self.fields[name].to_representation(value)  # type: ignore[attr-defined]
        return result


class UUIDRelatedField(serializers.PrimaryKeyRelatedField):  # type: ignore[type-arg]
    """A related object by UUID: anything that is not one fails with the field's documented codes."""

    def run_validation(self, data: Any = serializers.empty) -> Any:
        # DRF reads "" as null for a related field (an empty form select); in JSON the field takes
        # a UUID or null, as the schema says, and "" is neither.
        if data == "":
            self.fail("does_not_exist", pk_value=data)
        return super().run_validation(data)

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("incorrect_type", data_type=type(data).__name__)
        try:
            uuid.UUID(data)
        except ValueError:
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(data)


class ClinicRelatedField(UUIDRelatedField):
    """A related object that must belong to the caller's clinic.

    Another clinic's object answers exactly like one that does not exist (no existence leak).
    `scoped(clinic)` gives the allowed objects; `queryset` only types the field for the schema.
    """

    def __init__(self, *, scoped: Callable[[Any], QuerySet[Any]], queryset: QuerySet[Any], **kwargs: Any) -> None:
        self.scoped = scoped
        super().__init__(queryset=queryset, **kwargs)

    def get_queryset(self) -> QuerySet[Any]:
        clinic = self.context.get("clinic")
        if clinic is None:
            return self.queryset.none()  # type: ignore[union-attr]
        return self.scoped(clinic)
