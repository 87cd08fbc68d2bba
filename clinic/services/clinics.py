from __future__ import annotations

import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from clinic.auth.caller import Caller
from clinic.models import (
    CARE_ROLES,
    MEMBERSHIP_EXTERNAL_ID_CONSTRAINT,
    Clinic,
    Patient,
    Role,
    StaffMembership,
    User,
)
from clinic.selectors.patients import care_staff_list


@transaction.atomic
def clinic_create(*, slug: str, name: str, time_zone: str, display_name: str = "", phone: str = "") -> Clinic:
    clinic = Clinic(slug=slug, name=name, time_zone=time_zone, display_name=display_name, phone=phone)
    clinic.full_clean()
    clinic.save(force_insert=True)
    return clinic


def membership_is_clinical(*, role: str, is_active: bool) -> bool:
    """Whether a membership lets its user be a patient's assigned clinician in its clinic."""
    return is_active and role in CARE_ROLES


def membership_assigned_patient_count(*, membership: StaffMembership) -> int:
    """Patients of the membership's clinic assigned to its user (who must be handed over before the
    membership stops being clinical)."""
    if membership._state.adding:  # ids are given on creation: pk says nothing
        return 0
    return Patient.objects.filter(clinic_id=membership.clinic_id, assigned_clinician_id=membership.user_id).count()


def membership_handover_validate(
    *, membership: StaffMembership, role: str, is_active: bool, reassign_to: User | None, unassign_patients: bool
) -> int:
    """Check what becomes of the patients when `membership` takes `role` / `is_active`; returns how
    many move. Nothing is decided silently: a membership that stops being clinical while patients
    are assigned to its user needs either `reassign_to` or `unassign_patients`."""
    if reassign_to is not None and unassign_patients:
        raise ValidationError({"reassign_to": "Choose either someone to take the patients over, or to unassign them."})
    if membership_is_clinical(role=role, is_active=is_active):
        return 0
    count = membership_assigned_patient_count(membership=membership)
    if not count:
        return 0
    if reassign_to is None and not unassign_patients:
        raise ValidationError(
            {
                "reassign_to": ValidationError(
                    "%(count)d patient(s) of this clinic are assigned to this staff member: choose who takes "
                    "them over (another active clinician, case manager or admin of the clinic) or to leave "
                    "them unassigned.",
                    code="required",
                    params={"count": count},
                )
            }
        )
    if reassign_to is not None and (
        reassign_to.pk == membership.user_id
        or not care_staff_list(clinic=membership.clinic).filter(pk=reassign_to.pk).exists()
    ):
        raise ValidationError(
            {"reassign_to": "Must be another active clinician, case manager or admin of this clinic."}
        )
    return count


@transaction.atomic
def membership_update(
    *,
    membership: StaffMembership,
    role: Role | str,
    is_active: bool,
    reassign_to: User | None = None,
    unassign_patients: bool = False,
) -> StaffMembership:
    """Change a membership's role or active flag. If it stops being clinical (deactivated, or a
    role outside `CARE_ROLES`), the patients of its clinic assigned to its user go to `reassign_to`
    or, with `unassign_patients=True`, to nobody (their flag emails then reach the clinic's admins);
    with neither, a ValidationError naming `reassign_to`. Both writes share one transaction, and
    the database refuses the membership change if any patient is left behind."""
    # Locked first: a patient being assigned to this user at the same moment waits for this
    # transaction (its trigger takes a share lock on this row) and then sees the outcome.
    locked = StaffMembership.objects.select_for_update().select_related("clinic").get(pk=membership.pk)
    count = membership_handover_validate(
        membership=locked, role=role, is_active=is_active, reassign_to=reassign_to, unassign_patients=unassign_patients
    )
    if count:
        Patient.objects.filter(clinic_id=locked.clinic_id, assigned_clinician_id=locked.user_id).update(
            assigned_clinician=reassign_to
        )
    locked.role = role
    locked.is_active = is_active
    locked.full_clean()
    locked.save(update_fields=["role", "is_active", "updated_at"])
    return locked


def membership_deactivate(*, membership: StaffMembership, reassign_to: User | None) -> StaffMembership:
    """End a membership; the patients assigned to its user go to `reassign_to`, or are left
    unassigned when it is None (said explicitly by the caller: the argument has no default)."""
    return membership_update(
        membership=membership,
        role=membership.role,
        is_active=False,
        reassign_to=reassign_to,
        unassign_patients=reassign_to is None,
    )


@transaction.atomic
def membership_grant(*, user: User, clinic: Clinic, role: Role | str) -> StaffMembership:
    """Give `user` the role in `clinic` (or change the role they have there). Moving a clinician
    with assigned patients to a non-clinical role goes through `membership_update`, which asks
    where the patients go."""
    membership, created = StaffMembership.objects.select_for_update().get_or_create(
        user=user, clinic=clinic, defaults={"role": role}
    )
    if created:
        membership.full_clean()
        return membership
    return membership_update(membership=membership, role=role, is_active=True)


@transaction.atomic
def clinic_policy_update(
    *,
    clinic: Clinic,
    by: Caller,
    display_name: str,
    phone: str,
    reminder_sender_name: str,
    reminder_offsets_minutes: list[int],
    quiet_hours_start: datetime.time,
    quiet_hours_end: datetime.time,
    missed_session_message: bool,
    missed_session_grace_minutes: int,
) -> Clinic:
    """Change what a clinic's patients receive: the names and phone in reminders, when reminders go
    out, and whether (and how long after it is recorded) a missed session is followed by an email.
    Checked in full (the model's bounds and neutrality rules) before anything is written; a refusal
    is a ValidationError naming each field. Admins of the clinic only. Reminders already planned
    keep their times; sessions booked (and no-shows recorded) from now on follow the new policy."""
    if by.role != Role.ADMIN or by.clinic.pk != clinic.pk:
        raise PermissionDenied("Only an admin of this clinic may change its policy.")
    locked = Clinic.objects.select_for_update().get(pk=clinic.pk)
    locked.display_name = display_name
    locked.phone = phone
    locked.reminder_sender_name = reminder_sender_name
    locked.reminder_offsets_minutes = list(reminder_offsets_minutes)
    locked.quiet_hours_start = quiet_hours_start
    locked.quiet_hours_end = quiet_hours_end
    locked.missed_session_message = missed_session_message
    locked.missed_session_grace_minutes = missed_session_grace_minutes
    locked.full_clean()
    locked.save(update_fields=[*CLINIC_POLICY_FIELDS, "updated_at"])
    return locked


CLINIC_POLICY_FIELDS = (
    "display_name",
    "phone",
    "reminder_sender_name",
    "reminder_offsets_minutes",
    "quiet_hours_start",
    "quiet_hours_end",
    "missed_session_message",
    "missed_session_grace_minutes",
)


@transaction.atomic
def membership_manage(
    *,
    membership: StaffMembership,
    by: User,
    role: Role | str,
    is_active: bool,
    reassign_to: User | None = None,
    unassign_patients: bool = False,
) -> StaffMembership:
    """A clinic admin changes a member's role or ends their membership (the staff page). Only an
    active admin of the membership's clinic may, and never so that the clinic is left without an
    active admin (an admin cannot demote or deactivate themselves out of the last admin seat).
    Patients assigned to the member are handed over as `membership_update` says."""
    admins = list(
        StaffMembership.objects.select_for_update()
        .filter(clinic_id=membership.clinic_id, role=Role.ADMIN, is_active=True)
        .values_list("user_id", flat=True)
    )
    if by.pk not in admins:
        raise ValidationError("Only an admin of this clinic can change its staff.")
    stays_admin = is_active and role == Role.ADMIN
    if membership.user_id in admins and not stays_admin and len(admins) == 1:
        raise ValidationError(
            {"role": "The clinic would have no admin left: make someone else an admin first."}
            if is_active
            else {"__all__": "The clinic would have no admin left: make someone else an admin first."}
        )
    return membership_update(
        membership=membership,
        role=role,
        is_active=is_active,
        reassign_to=reassign_to,
        unassign_patients=unassign_patients,
    )


DUPLICATE_STAFF_EXTERNAL_ID = "Another staff member of this clinic already has this external_id."


def _blank_to_none(value: str | None) -> str | None:
    """Stored as null when absent, never "": an unset identifier must not collide with another."""
    if value is None:
        return None
    return value.strip() or None


def membership_external_id_validate(
    *, clinic: Clinic, external_id: str | None, membership: StaffMembership | None = None
) -> None:
    """No other membership of `clinic` has `external_id`: a ValidationError naming the field
    otherwise. The database's constraint has the last word (two writers at once)."""
    if not external_id:
        return
    others = StaffMembership.objects.filter(clinic=clinic, external_id=external_id)
    if membership is not None and not membership._state.adding:
        others = others.exclude(pk=membership.pk)
    if others.exists():
        raise ValidationError({"external_id": DUPLICATE_STAFF_EXTERNAL_ID})


@transaction.atomic
def membership_identifiers_set(
    *, membership: StaffMembership, external_id: str | None, npi: str | None
) -> StaffMembership:
    """Record what the clinic's EHR calls a staff member (`external_id`, unique within the clinic)
    and their National Provider Identifier (`npi`, check digit verified); blank or None clears
    either. A refusal is a ValidationError naming the field; nothing is written."""
    locked = StaffMembership.objects.select_for_update().get(pk=membership.pk)
    before = (locked.external_id, locked.npi)
    locked.external_id = _blank_to_none(external_id)
    locked.npi = _blank_to_none(npi)
    if (locked.external_id, locked.npi) == before:
        return locked  # unchanged: `updated_at` (what integrations sync on) stays
    # Uniqueness is left to the database (below), so two writers at once cannot both succeed.
    locked.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            locked.save(update_fields=["external_id", "npi", "updated_at"])
    except IntegrityError as exc:
        if MEMBERSHIP_EXTERNAL_ID_CONSTRAINT in str(exc):
            raise ValidationError({"external_id": DUPLICATE_STAFF_EXTERNAL_ID}) from None
        raise
    return locked
