"""The staff page (clinic admins only): the clinic's members, inviting one, and per member a new
role, the end of the membership, and an MFA reset. Every write goes through a service and is in
the access log and the change history with the admin as actor."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from aftercare.dashboard.pages import in_clinic, name_of, record, staff_page
from aftercare.dashboard.staff.forms import DeactivateForm, InviteForm, NewLinkForm, ResetMfaForm, RoleForm
from aftercare.services.staff import invite_lifetime, staff_invite, staff_invite_renew
from clinic.auth.caller import Caller
from clinic.models import AccessAction, Role, StaffMembership
from clinic.selectors.staff import staff_membership_list
from clinic.services.clinics import membership_assigned_patient_count, membership_manage
from clinic.services.mfa import mfa_is_enrolled, mfa_reset

ADMIN_ONLY = frozenset({Role.ADMIN})
OBJECT_TYPE = "staff_membership"
LINK_KEY = "dashboard_invite_link"


def _add_errors(form: forms.Form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


def _show_link(request: HttpRequest, link: str, emailed: bool, name: str) -> None:
    request.session[LINK_KEY] = {"link": link, "emailed": emailed, "name": name}


@staff_page(roles=ADMIN_ONLY, object_type="dashboard.staff", shows_patients=False)
def staff(request: HttpRequest, caller: Caller) -> HttpResponse:
    """`/staff/`: the members with role, active, MFA and last sign-in; the invitation form."""
    form = InviteForm(request.POST or None, prefix="invite")
    if request.method == "POST" and form.is_valid():
        try:
            invitation = staff_invite(clinic=caller.clinic, **form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            record(request, action=AccessAction.CREATE, object_type=OBJECT_TYPE, object_ids=[invitation.membership.pk])
            _show_link(request, invitation.link, invitation.emailed, name_of(invitation.user))
            messages.info(request, f"{name_of(invitation.user)} is invited.")
            return redirect("dashboard:staff")
    context: dict[str, Any] = {
        "members": list(staff_membership_list(clinic=caller.clinic)),
        "form": form,
        "invite": request.session.pop(LINK_KEY, None),
        "invite_hours": int(invite_lifetime().total_seconds() // 3600),
    }
    # A form with errors is shown again with 200, as the sign-in page does (browsers report a 4xx
    # page as a failed load).
    return render(request, "dashboard/staff/staff.html", context)


def _member_forms(
    request: HttpRequest, caller: Caller, membership: StaffMembership, posted: str | None
) -> dict[str, forms.Form]:
    def data(name: str) -> Any:
        return request.POST if posted == name else None

    return {
        "role_form": RoleForm(
            data("role"), prefix="role", membership=membership, clinic=caller.clinic, initial={"role": membership.role}
        ),
        "end_form": DeactivateForm(data("end"), prefix="end", membership=membership, clinic=caller.clinic),
        "mfa_form": ResetMfaForm(data("mfa"), prefix="mfa"),
        "link_form": NewLinkForm(data("link"), prefix="link"),
    }


@staff_page(roles=ADMIN_ONLY, object_type="dashboard.staff_member", shows_patients=False)
def staff_member(request: HttpRequest, caller: Caller, membership_id: uuid.UUID) -> HttpResponse:
    """`/staff/<id>/`: one member; each form posts here with `action` naming it."""
    membership: StaffMembership = in_clinic(
        StaffMembership.objects.select_related("user", "clinic"), caller, pk=membership_id
    )
    action = request.POST.get("action") if request.method == "POST" else None
    bound = _member_forms(request, caller, membership, action)
    if action in ("role", "end", "mfa", "link"):
        form = bound[f"{action}_form"]
        if form.is_valid():
            try:
                done = _apply(request, caller, membership, action, form.cleaned_data)
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                record(request, action=AccessAction.UPDATE, object_type=OBJECT_TYPE, object_ids=[membership.pk])
                messages.info(request, done)
                return redirect("dashboard:staff_member", membership_id=membership.pk)
    user = membership.user
    context: dict[str, Any] = {
        "membership": membership,
        "member": user,
        "mfa_enrolled": mfa_is_enrolled(user=user),
        "assigned_patients": membership_assigned_patient_count(membership=membership),
        "invite_pending": not user.has_usable_password(),
        "invite": request.session.pop(LINK_KEY, None),
        "is_self": user.pk == caller.user.pk if caller.user else False,
        "invite_hours": int(invite_lifetime().total_seconds() // 3600),
        **bound,
    }
    return render(request, "dashboard/staff/member.html", context)


def _apply(request: HttpRequest, caller: Caller, membership: StaffMembership, action: str, data: dict[str, Any]) -> str:
    if caller.user is None:  # staff pages always have a staff member
        raise ValidationError("Sign in as a staff member.")
    name = name_of(membership.user)
    if action == "role":
        membership_manage(
            membership=membership,
            by=caller.user,
            role=data["role"],
            is_active=membership.is_active,
            reassign_to=data["reassign_to"],
            unassign_patients=data["unassign_patients"],
        )
        return f"{name} is now {Role(data['role']).label.lower()}."
    if action == "end":
        membership_manage(
            membership=membership,
            by=caller.user,
            role=membership.role,
            is_active=False,
            reassign_to=data["reassign_to"],
            unassign_patients=data["unassign_patients"],
        )
        return f"{name} no longer works for this clinic."
    if action == "mfa":
        mfa_reset(user=membership.user)
        return f"{name}'s authenticator is removed: they set up a new one at their next sign-in."
    invitation = staff_invite_renew(membership=membership)
    _show_link(request, invitation.link, invitation.emailed, name)
    return f"A new invitation link for {name} is ready."
