"""A choice field that accepts fewer values than it reads back, documented as such."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_choice_field
from rest_framework import serializers


class ReadWriteChoiceField(serializers.ChoiceField):
    """Takes `choices` on input and reads back any of `read_choices`.

    A plan is created as draft or active, and later reads back as completed or discontinued too: a
    schema that gave one enum for both directions would make a generated client refuse the statuses
    it is sent (or offer ones the server refuses)."""

    def __init__(self, *, choices: Any, read_choices: Any, **kwargs: Any) -> None:
        self.write_choices, self.read_choices = choices, read_choices
        super().__init__(choices=choices, **kwargs)

    def to_representation(self, value: Any) -> Any:
        return value


class ReadWriteChoiceFieldExtension(OpenApiSerializerFieldExtension):  # type: ignore[no-untyped-call]
    target_class = ReadWriteChoiceField

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        field: ReadWriteChoiceField = self.target
        choices = field.write_choices if direction == "request" else field.read_choices
        return build_choice_field(serializers.ChoiceField(choices=choices))
