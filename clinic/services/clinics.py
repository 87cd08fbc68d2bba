from __future__ import annotations

from django.db import transaction

from clinic.models import Clinic, Role, StaffMembership, User


@transaction.atomic
def clinic_create(*, slug: str, name: str, time_zone: str, display_name: str = "", phone: str = "") -> Clinic:
    clinic = Clinic(slug=slug, name=name, time_zone=time_zone, display_name=display_name, phone=phone)
    clinic.full_clean()
    clinic.save(force_insert=True)
    return clinic


@transaction.atomic
def membership_grant(*, user: User, clinic: Clinic, role: Role | str) -> StaffMembership:
    """Give `user` the role in `clinic` (or change the role they have there)."""
    membership, _ = StaffMembership.objects.select_for_update().get_or_create(
        user=user, clinic=clinic, defaults={"role": role}
    )
    membership.role = role
    membership.is_active = True
    membership.full_clean()
    membership.save()
    return membership
