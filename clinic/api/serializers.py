"""Serializer pieces shared by every API resource."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Collection, Mapping
from typing import Any, ClassVar

from django.db.models import CharField, Func, QuerySet
from django.utils import timezone
from rest_framework import ISO_8601, serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.settings import api_settings

from clinic.api import rfc3339

# Characters no text a person types holds: C0 controls, DEL and C1 controls (never real text in
# UTF-8; C1 often a Windows-1252 mix-up, U+009B a terminal escape). TAB, LF and CR are kept in
# multi-line text; one-line text refuses them (LF, CR) and the Unicode line and paragraph
# separators too. NUL keeps DRF's own check (`null_characters_not_allowed`).
_CONTROLS = {chr(c) for c in range(0x01, 0x20)} | {chr(0x7F)} | {chr(c) for c in range(0x80, 0xA0)}
_MULTI_LINE_REFUSED = frozenset(_CONTROLS - {"\t", "\n", "\r"})
_ONE_LINE_REFUSED = frozenset(_CONTROLS - {"\t"} | {"\u2028", "\u2029"})
_ONE_LINE_TEXT = "Must be one line, without line breaks or control characters."


class StrictCharField(serializers.CharField):
    """Text only. DRF's CharField turns a number into its digits ("facilitator": 42 becomes "42"),
    so a client's type mistake passes silently; this refuses it with the field's `invalid` code.
    Control characters are refused (code `control_characters`): a one-line field (`multi_line=False`,
    the default) refuses line breaks too. Model text fields map to it (`clinic.apps`): a
    `TextField` is multi-line, a `CharField` one line."""

    default_error_messages = {"control_characters": "Must not contain control characters."}

    def __init__(self, *, multi_line: bool = False, **kwargs: Any) -> None:
        self.multi_line = multi_line
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        refused = _MULTI_LINE_REFUSED if self.multi_line else _ONE_LINE_REFUSED
        # Before DRF trims the ends: str.strip() takes some controls away and would hide them.
        if not refused.isdisjoint(data):
            if self.multi_line:
                self.fail("control_characters")
            raise serializers.ValidationError(_ONE_LINE_TEXT, code="control_characters")
        value: str = super().to_internal_value(data)
        return value


class StrictTextField(StrictCharField):
    """Multi-line text (notes, reasons, plans): TAB, LF and CR allowed, other controls refused."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("multi_line", True)
        super().__init__(**kwargs)


# The instants and dates the API accepts. Outside them a time-zone shift or an added duration
# overflows Python's datetime (years 1 and 9999) and nothing real lies there: births, treatment,
# appointments and consents all fall within these years. Fields narrow them further where a
# clinic would never mean anything else (`past` and `future`: how far from now or today).
EARLIEST_YEAR = 1900
LATEST_YEAR = 2199
_RANGE_TEXT = f"Must be in the years {EARLIEST_YEAR} to {LATEST_YEAR}."
# A year of days, generous enough for a leap year: "2 years" means at least two calendar years.
YEAR = datetime.timedelta(days=366)


def _window_text(past: datetime.timedelta | None, future: datetime.timedelta | None) -> str:
    def span(delta: datetime.timedelta) -> str:
        years, days = divmod(delta.days, 366)
        return f"{years} year{'s' * (years != 1)}" if years and not days else f"{delta.days} days"

    parts = []
    if past is not None:
        parts.append("not in the past" if not past else f"at most {span(past)} in the past")
    if future is not None:
        parts.append("not in the future" if not future else f"at most {span(future)} ahead")
    return f"Must be {' and '.join(parts)}."


class InstantField(serializers.DateTimeField):
    """An instant as RFC 3339 with an explicit offset (`clinic.api.rfc3339`, as in query parameters).

    A date-time without an offset is refused with the code `no_offset`, never read in some zone the
    caller did not choose. Instants outside the years the API accepts, or outside the field's own
    window around now (`past`, `future`), are `out_of_range`.
    """

    default_error_messages = {
        "invalid": rfc3339.INVALID_TEXT,
        "no_offset": rfc3339.NO_OFFSET_TEXT,
        "out_of_range": _RANGE_TEXT,
    }

    def __init__(
        self, *, past: datetime.timedelta | None = None, future: datetime.timedelta | None = None, **kwargs: Any
    ) -> None:
        self.past, self.future = past, future
        super().__init__(**kwargs)

    def to_internal_value(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                instant = rfc3339.parse_instant(value.strip())
            except rfc3339.NoOffset:
                self.fail("no_offset")
            except ValueError:
                self.fail("invalid")
            instant = super().to_internal_value(instant)
        elif isinstance(value, datetime.datetime) and timezone.is_naive(value):
            self.fail("no_offset")
        else:
            instant = super().to_internal_value(value)
        # In UTC as stored: 2199-12-31T23:00-05:00 is already year 2200 there.
        if not EARLIEST_YEAR <= instant.astimezone(datetime.UTC).year <= LATEST_YEAR:
            self.fail("out_of_range")
        if self.past is not None or self.future is not None:
            now = timezone.now()
            if (self.past is not None and instant < now - self.past) or (
                self.future is not None and instant > now + self.future
            ):
                raise serializers.ValidationError(_window_text(self.past, self.future), code="out_of_range")
        return instant


class CalendarDateField(serializers.DateField):
    """A date of the clinic's calendar (`YYYY-MM-DD`), refusing dates outside the years the API
    accepts or outside the field's own window around the clinic's today (`past`, `future`), with
    the code `out_of_range`."""

    default_error_messages = {"out_of_range": _RANGE_TEXT}

    def __init__(
        self, *, past: datetime.timedelta | None = None, future: datetime.timedelta | None = None, **kwargs: Any
    ) -> None:
        self.past, self.future = past, future
        super().__init__(**kwargs)

    def today(self) -> datetime.date:
        """The caller's clinic's today (the serializer's context names the clinic)."""
        clinic = self.context.get("clinic")
        return timezone.localdate(timezone=clinic.zone) if clinic is not None else timezone.localdate()

    def to_internal_value(self, value: Any) -> datetime.date:
        date = super().to_internal_value(value)
        if not EARLIEST_YEAR <= date.year <= LATEST_YEAR:
            self.fail("out_of_range")
        if self.past is not None or self.future is not None:
            today = self.today()
            if (self.past is not None and date < today - self.past) or (
                self.future is not None and date > today + self.future
            ):
                raise serializers.ValidationError(_window_text(self.past, self.future), code="out_of_range")
        return date


_AS_IS = (
    serializers.CharField,
    StrictCharField,
    StrictTextField,
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

    # One to_char, its `.000000` taken away (where it can only be the fraction): a third of the
    # database's time for a page of rows went to three calls of it for each instant.
    template = (
        "replace(to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '.000000Z', 'Z')"
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


UNKNOWN_FIELD = "unknown_field"
UNKNOWN_FIELD_TEXT = "Unknown field: this request does not take it."


def unknown_fields(
    serializer: Any, data: Any, prefix: str = "", output_only: Collection[str] = frozenset()
) -> list[str]:
    """The paths (`emergency_plan.xyz`, `support_persons.0.xyz`) of what `data` holds that
    `serializer` does not take, nested objects and list items included.

    A read-only field of the resource (`id`, `created_at`, …, and `output_only`: those of the
    resource a request with its own serializer answers with) is not unknown: a client that sends
    back what it read, changed or not, has it ignored, so read-modify-write works (as Google's
    AIP-203 asks of output-only fields). Anything else a serializer does not name would be dropped
    without a word, hiding a client's typo (`phonee`), so it is refused.
    """
    if isinstance(serializer, serializers.ListSerializer | serializers.ListField):
        if not isinstance(data, list):
            return []
        return [path for i, item in enumerate(data) for path in unknown_fields(serializer.child, item, f"{prefix}{i}.")]
    if not isinstance(serializer, serializers.Serializer) or not isinstance(data, Mapping):
        return []
    found: list[str] = []
    fields = serializer.fields
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            if key not in output_only:
                found.append(f"{prefix}{key}")
        elif not field.read_only:
            found.extend(unknown_fields(field, value, f"{prefix}{key}."))
    return found


def validated_strictly(
    serializer: serializers.BaseSerializer[Any], resource: type[serializers.BaseSerializer[Any]] | None = None
) -> dict[str, Any]:
    """`serializer`'s validated request body; a 400 naming every bad field and every unknown one.
    `resource` is the serializer of what the request answers with, when it is another one: its
    read-only fields are ignored too."""
    valid = serializer.is_valid()
    unknown = unknown_fields(serializer, serializer.initial_data)
    if unknown and resource is not None and resource is not type(serializer):
        fields = getattr(resource(), "fields", {})
        output_only = {name for name, field in fields.items() if field.read_only}
        unknown = unknown_fields(serializer, serializer.initial_data, output_only=output_only)
    if valid and not unknown:
        return dict(serializer.validated_data)
    errors: dict[str, Any] = {} if valid else dict(serializer.errors)
    for path in unknown:
        errors[path] = [ErrorDetail(UNKNOWN_FIELD_TEXT, code=UNKNOWN_FIELD)]
    raise serializers.ValidationError(errors)
