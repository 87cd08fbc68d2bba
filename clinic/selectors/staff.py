"""The clinic's staff: as its admin manages them, and as the API's directory shows them."""

from __future__ import annotations

from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.models import CARE_ROLES, Clinic, StaffMembership, User


def staff_membership_list(*, clinic: Clinic) -> QuerySet[StaffMembership]:
    """Every membership of the clinic (ended ones too) with its user, whether they have a confirmed
    authenticator (`mfa_enrolled`) and how many of the clinic's patients are assigned to them
    (`assigned_patients`): one query whatever the number of members."""
    return (
        StaffMembership.objects.filter(clinic=clinic)
        .select_related("user")
        .annotate(
            mfa_enrolled=Exists(TOTPDevice.objects.filter(user_id=OuterRef("user_id"), confirmed=True)),
            assigned_patients=Count(
                "user__assigned_patients",
                filter=Q(user__assigned_patients__clinic_id=clinic.pk),
                distinct=True,
            ),
        )
        .order_by("-is_active", "user__last_name", "user__first_name", "user__username")
    )


def staff_directory_list(*, clinic: Clinic) -> QuerySet[StaffMembership]:
    """The clinic's staff for the API's directory, one row per membership (ended ones too), with
    the person's names (`first_name`, `last_name`) and `active`: the membership and the account
    both active, i.e. whether the person can be booked and can sign in. Nothing that signs in
    (username, email) is read."""
    return StaffMembership.objects.filter(clinic=clinic).annotate(
        first_name=F("user__first_name"),
        last_name=F("user__last_name"),
        active=ExpressionWrapper(Q(is_active=True, user__is_active=True), output_field=BooleanField()),
    )


def care_staff_by_external_id(*, clinic: Clinic, external_id: str) -> User | None:
    """The active clinician, case manager or admin whom the clinic's EHR calls `external_id`, or
    None. One filter call: the identifier, the role and the active flag are those of the same
    membership (a person's id in another clinic names nobody here)."""
    return User.objects.filter(
        memberships__clinic=clinic,
        memberships__external_id=external_id,
        memberships__is_active=True,
        memberships__role__in=list(CARE_ROLES),
        is_active=True,
    ).first()
