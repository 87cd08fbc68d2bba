"""Related fields of the aftercare API, each limited to the caller's clinic."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from aftercare.models import PlanActivity, SupportGroup
from clinic.api.serializers import YEAR, ClinicRelatedField
from clinic.models import Patient, User
from clinic.selectors.patients import care_staff_list, patient_list
from clinic.selectors.staff import care_staff_by_external_id

_EXTERNAL_ID_MAX_LENGTH = 64

# A session booked, moved or recorded through the API lies within this window around now: wide
# enough to back-fill an EHR's recent history and to book a long course ahead, narrow enough that a
# slip in the year (2062 for 2026) is refused rather than booked.
SESSION_WINDOW: dict[str, Any] = {"past": 2 * YEAR, "future": 5 * YEAR}


def patient_field(**kwargs: Any) -> ClinicRelatedField:
    return ClinicRelatedField(
        scoped=lambda clinic: patient_list(clinic=clinic), queryset=Patient.objects.all(), **kwargs
    )


def clinician_field(**kwargs: Any) -> ClinicRelatedField:
    kwargs.setdefault("help_text", "A clinician, case manager or admin of this clinic (their user id).")
    return ClinicRelatedField(
        scoped=lambda clinic: care_staff_list(clinic=clinic), queryset=User.objects.all(), **kwargs
    )


@extend_schema_field(OpenApiTypes.STR)
class ClinicianExternalIdField(serializers.PrimaryKeyRelatedField):  # type: ignore[type-arg]
    """A clinician named by the clinic's EHR (the `external_id` of their membership here), for
    integrations that know only their own provider ids. It fails exactly as `clinician` does with
    an id that names nobody: another clinic's identifier, or someone who cannot be booked, is unknown."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(queryset=User.objects.all(), **kwargs)

    def to_internal_value(self, data: Any) -> User:
        if not isinstance(data, str):
            self.fail("incorrect_type", data_type=type(data).__name__)
        clinic = self.context.get("clinic")
        user = None
        if clinic is not None and data.strip() and len(data) <= _EXTERNAL_ID_MAX_LENGTH and "\x00" not in data:
            user = care_staff_by_external_id(clinic=clinic, external_id=data)
        if user is None:
            self.fail("does_not_exist", pk_value=data)
        return user


def clinician_external_id_field(**kwargs: Any) -> ClinicianExternalIdField:
    kwargs.setdefault(
        "help_text",
        "Instead of `clinician`: the clinician's identifier in the EHR (`external_id` in `/api/v1/staff/`).",
    )
    return ClinicianExternalIdField(required=False, write_only=True, **kwargs)


# `clinician` (our id) or `clinician_external_id` (the EHR's): exactly one of them, or on a
# partial update at most one. The service only ever sees `clinician`. (A comment, not a docstring:
# the schema would publish it as the serializer's description.)
class ClinicianByEitherIdMixin:
    # Neither given is a `required` error on `clinician`, though neither field is required alone
    # (clinic.api.schema documents it).
    required_one_of = ("clinician",)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)  # type: ignore[misc]
        if "clinician_external_id" in attrs:
            if "clinician" in attrs:
                raise serializers.ValidationError(
                    {"clinician_external_id": ["Give either clinician or clinician_external_id, not both."]}
                )
            attrs["clinician"] = attrs.pop("clinician_external_id")
        elif "clinician" not in attrs and not getattr(self, "partial", False):
            field = self.fields["clinician"]  # type: ignore[attr-defined]
            raise serializers.ValidationError(
                {"clinician": [serializers.ErrorDetail(field.error_messages["required"], code="required")]}
            )
        return attrs


def activity_field(**kwargs: Any) -> ClinicRelatedField:
    kwargs.setdefault("help_text", "An activity of the patient's aftercare plan.")
    return ClinicRelatedField(
        scoped=lambda clinic: PlanActivity.objects.filter(plan__clinic=clinic).select_related("plan"),
        queryset=PlanActivity.objects.all(),
        **kwargs,
    )


def support_group_field(**kwargs: Any) -> ClinicRelatedField:
    return ClinicRelatedField(
        scoped=lambda clinic: SupportGroup.objects.filter(clinic=clinic), queryset=SupportGroup.objects.all(), **kwargs
    )
