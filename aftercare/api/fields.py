"""Related fields of the aftercare API, each limited to the caller's clinic."""

from __future__ import annotations

from typing import Any

from aftercare.models import PlanActivity, SupportGroup
from clinic.api.serializers import YEAR, ClinicRelatedField
from clinic.models import Patient, User
from clinic.selectors.patients import care_staff_list, patient_list

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
