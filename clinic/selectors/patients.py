from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from clinic.models import CARE_ROLES, Clinic, Patient, Role, User


def patient_list(*, clinic: Clinic) -> QuerySet[Patient]:
    return Patient.objects.filter(clinic=clinic)


def staff_list(*, clinic: Clinic, roles: Iterable[str]) -> QuerySet[User]:
    """Active users holding one of `roles` in an active membership of this clinic (one filter call:
    the role and the active flag are those of the same membership)."""
    return User.objects.filter(
        memberships__clinic=clinic,
        memberships__is_active=True,
        memberships__role__in=list(roles),
        is_active=True,
    )


def care_staff_list(*, clinic: Clinic) -> QuerySet[User]:
    """Users who may be a patient's assigned clinician in this clinic."""
    return staff_list(clinic=clinic, roles=CARE_ROLES)


def clinic_admin_list(*, clinic: Clinic) -> QuerySet[User]:
    return staff_list(clinic=clinic, roles=[Role.ADMIN])
