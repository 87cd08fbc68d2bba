"""Forms of the staff area: inviting, changing a role, ending a membership, resetting MFA."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.validators import UnicodeUsernameValidator

from aftercare.dashboard.pages import name_of
from clinic.models import Clinic, Role, StaffMembership, User
from clinic.selectors.patients import care_staff_list


class InviteForm(forms.Form):
    first_name = forms.CharField(max_length=150)
    last_name = forms.CharField(max_length=150)
    email = forms.EmailField(help_text="The invitation link is sent here.")
    username = forms.CharField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="What they type to sign in: letters, digits and @ . + - _ only.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    role = forms.ChoiceField(choices=Role.choices)


class _StaffChoice(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return name_of(obj)


class _HandoverForm(forms.Form):
    """Where the member's patients go when they stop being clinical staff."""

    reassign_to = _StaffChoice(
        queryset=User.objects.none(),
        required=False,
        label="Who takes over their patients",
        empty_label="(nobody chosen)",
        help_text="Only asked when patients are assigned to them.",
    )
    unassign_patients = forms.BooleanField(required=False, label="Leave their patients unassigned")

    def __init__(self, *args: Any, membership: StaffMembership, clinic: Clinic, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choice = self.fields["reassign_to"]
        assert isinstance(choice, forms.ModelChoiceField)  # noqa: S101 (declared above)
        choice.queryset = (
            care_staff_list(clinic=clinic).exclude(pk=membership.user_id).order_by("last_name", "first_name")
        )


class RoleForm(_HandoverForm):
    role = forms.ChoiceField(choices=Role.choices)
    field_order = ["role", "reassign_to", "unassign_patients"]


class DeactivateForm(_HandoverForm):
    pass


class ResetMfaForm(forms.Form):
    confirm = forms.BooleanField(
        label="Yes, remove their authenticator and recovery codes",
        help_text="They are signed out and set up a new authenticator at their next sign-in.",
    )


class NewLinkForm(forms.Form):
    """A new invitation link (no fields: the button is the whole form)."""
