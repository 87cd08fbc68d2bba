"""The clinic's staff as its admin manages them."""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.models import Clinic, StaffMembership


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
