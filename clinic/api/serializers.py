"""Serializer pieces shared by every API resource."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from rest_framework import ISO_8601, serializers
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import api_settings

Reader = Callable[[Any], Any]

_AS_IS = (serializers.CharField, serializers.ChoiceField, serializers.BooleanField)


def _plain_reader(field: serializers.Field[Any, Any, Any, Any]) -> tuple[str, Reader | None] | None:
    """(attribute, converter) for a field whose output needs none of DRF's per-field machinery.

    The converter returns what `field.to_representation` would (None: the value as it is), so the
    output is the same object DRF would produce; anything else is left to DRF.
    """
    if len(field.source_attrs) != 1 or field.source == "*":
        return None
    source = field.source_attrs[0]
    if isinstance(field, serializers.PrimaryKeyRelatedField) and field.use_pk_only_optimization():
        if field.pk_field is None:
            return f"{source}_id", None
        return None
    if isinstance(field, serializers.UUIDField) and field.uuid_format == "hex_verbose":
        return source, str
    if type(field) is serializers.DateField and getattr(field, "format", api_settings.DATE_FORMAT) == ISO_8601:
        return source, lambda value: value.isoformat()
    if isinstance(field, serializers.DateTimeField):
        return source, _datetime_converter(field)
    if type(field) in _AS_IS or type(field) is serializers.EmailField:
        return source, None
    return None


def _datetime_converter(field: serializers.DateTimeField) -> Reader:
    """DRF's DateTimeField output (ISO 8601 in the current zone, UTC as 'Z') without its per-value
    zone lookup: the zone is read once, when the serializer builds its readers (once a request)."""
    zone = None if hasattr(field, "timezone") else field.default_timezone()
    if zone is None or getattr(field, "format", api_settings.DATETIME_FORMAT) != ISO_8601:
        return field.to_representation

    def convert(value: Any) -> Any:
        if isinstance(value, str) or value.tzinfo is None:
            return field.to_representation(value)
        try:
            text: str = value.astimezone(zone).isoformat()
        except OverflowError:
            return field.to_representation(value)
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return convert


class FastReadMixin:
    """Faster `to_representation` for list pages, with output identical to DRF's own.

    DRF resolves each field of each row through several calls; for the plain columns a list
    page returns, reading the attribute and converting it directly is several times faster
    (tests/clinic/test_serializers.py holds the two to the same output).
    """

    _readers: list[tuple[str, Any, tuple[str, Reader | None] | None]]

    def to_representation(self, instance: Any) -> dict[str, Any]:
        readers = getattr(self, "_readers", None)
        if readers is None:
            readers = self._readers = [
                (name, field, _plain_reader(field))
                for name, field in self.fields.items()  # type: ignore[attr-defined]
                if not field.write_only
            ]
        result: dict[str, Any] = {}
        for name, field, plain in readers:
            if plain is not None:
                attribute, convert = plain
                value = getattr(instance, attribute)
                result[name] = None if value is None else convert(value) if convert else value
                continue
            try:
                attribute_value = field.get_attribute(instance)
            except SkipField:
                continue
            check = attribute_value.pk if isinstance(attribute_value, PKOnlyObject) else attribute_value
            result[name] = None if check is None else field.to_representation(attribute_value)
        return result


class UUIDRelatedField(serializers.PrimaryKeyRelatedField):  # type: ignore[type-arg]
    """A related object by UUID: anything that is not one fails with the field's documented codes."""

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
