from __future__ import annotations

from django.db.models import QuerySet

from clinic.models import CARE_ROLES, Clinic, Patient, User


def patient_list(*, clinic: Clinic) -> QuerySet[Patient]:
    return Patient.objects.filter(clinic=clinic)


def care_staff_list(*, clinic: Clinic) -> QuerySet[User]:
    """Users who may be a patient's assigned clinician in this clinic."""
    return User.objects.filter(
        memberships__clinic=clinic,
        memberships__is_active=True,
        memberships__role__in=CARE_ROLES,
        is_active=True,
    )
