from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db.models import QuerySet, Value
from pghistory.models import Events

from clinic.models import CARE_ROLES, Clinic, IntegrationClient, Patient, Role, User


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


def patient_history(*, patient: Patient) -> QuerySet[Events]:
    """Every change to the patient and the records that name them (plans, activities,
    appointments, groups, flags, consents), newest first, as the change history stored it."""
    events: QuerySet[Events] = Events.objects.references(patient).order_by("-pgh_created_at", "-pgh_slug")
    return events


def actor_names(*, clinic: Clinic, keys: Iterable[str]) -> dict[str, str]:
    """Names for the actor keys the change history and the access log write (`user:<id>`,
    `client:<id>`), read in one query: a staff member's full name (else username), an
    integration client's name. Keys of other clinics' clients, or malformed ones, are left out."""
    user_ids: set[uuid.UUID] = set()
    client_ids: set[uuid.UUID] = set()
    for key in keys:
        kind, _, value = key.partition(":")
        try:
            parsed = uuid.UUID(value)
        except ValueError:
            continue
        (user_ids if kind == "user" else client_ids if kind == "client" else set()).add(parsed)
    if not user_ids and not client_ids:
        return {}
    users = User.objects.filter(pk__in=user_ids).values_list("pk", "first_name", "last_name", "username", Value("user"))
    clients = IntegrationClient.objects.filter(clinic=clinic, pk__in=client_ids).values_list(
        "pk", "name", Value(""), Value(""), Value("client")
    )
    names: dict[str, str] = {}
    for pk, first, last, username, kind in users.union(clients, all=True):
        names[f"{kind}:{pk}"] = f"{first} {last}".strip() or username
    return names
