"""Admin forms that ask before a change leaves patients with a clinician outside their clinic."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms import ModelChoiceField

from clinic.models import StaffMembership, User
from clinic.selectors.patients import care_staff_list
from clinic.services.clinics import (
    membership_assigned_patient_count,
    membership_external_id_validate,
    membership_handover_validate,
    membership_is_clinical,
)
from clinic.services.patients import patient_clinician_validate


class MembershipInlineForm(forms.ModelForm):  # type: ignore[type-arg]
    """A membership listed under its user: a change that would leave patients assigned to someone
    outside their clinic is refused here and made on the membership's own page, which asks who
    takes the patients over."""

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        membership = self.instance
        if membership._state.adding or not {"clinic", "role", "is_active"} <= set(cleaned):
            return cleaned
        moved = cleaned["clinic"] is not None and cleaned["clinic"].pk != membership.clinic_id
        clinical = membership_is_clinical(role=cleaned["role"], is_active=cleaned["is_active"])
        if (moved or not clinical) and membership_assigned_patient_count(membership=membership):
            raise ValidationError(
                "Patients are assigned to this person in this clinic: change this membership on its own "
                "page (Staff memberships), which asks who takes them over.",
                code="patients_assigned",
            )
        return cleaned


class StaffMembershipForm(forms.ModelForm):  # type: ignore[type-arg]
    """Deactivating a membership, or moving it to a role that cannot care for patients, while
    patients are assigned to its user: the admin chooses who takes them over, or to leave them
    unassigned (`membership_handover_validate` says which is missing)."""

    reassign_to = forms.ModelChoiceField(
        queryset=User.objects.none(),
        required=False,
        label="Reassign patients to",
        help_text=(
            "When this membership is deactivated or its role becomes front desk or auditor: the clinician, "
            "case manager or admin of this clinic who takes over the patients assigned to this person."
        ),
    )
    unassign_patients = forms.BooleanField(
        required=False,
        label="Leave their patients unassigned",
        help_text="Instead of reassigning them (their high-priority flags then email the clinic's admins).",
    )

    class Meta:
        model = StaffMembership
        fields = ["user", "clinic", "role", "is_active", "external_id", "npi"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        membership = self.instance
        if not membership._state.adding and "reassign_to" in self.fields:
            field = self.fields["reassign_to"]
            if isinstance(field, ModelChoiceField):
                field.queryset = (
                    care_staff_list(clinic=membership.clinic).exclude(pk=membership.user_id).order_by("username")
                )
            count = membership_assigned_patient_count(membership=membership)
            field.help_text = f"{field.help_text} Patients assigned to this person here: {count}."

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        # The form leaves out the clinic on an existing membership (it cannot change), and with it
        # Django's own check of the per-clinic uniqueness: checked here, naming the field.
        clinic = cleaned.get("clinic") or (self.instance.clinic if self.instance.clinic_id else None)
        if clinic is not None and cleaned.get("external_id"):
            try:
                membership_external_id_validate(
                    clinic=clinic, external_id=cleaned["external_id"], membership=self.instance
                )
            except ValidationError as exc:
                self.add_error(None, exc)
        if not self.instance._state.adding and {"role", "is_active"} <= set(cleaned):
            try:
                membership_handover_validate(
                    membership=self.instance,
                    role=cleaned["role"],
                    is_active=cleaned["is_active"],
                    reassign_to=cleaned.get("reassign_to"),
                    unassign_patients=bool(cleaned.get("unassign_patients")),
                )
            except ValidationError as exc:
                self.add_error(None, exc)
        return cleaned


class PatientAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    """The assigned clinician is an active clinician, case manager or admin of the patient's clinic."""

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        clinic = cleaned.get("clinic") or (self.instance.clinic if self.instance.clinic_id else None)
        clinician = cleaned.get("assigned_clinician")
        if clinic is not None and {"assigned_clinician", "clinic"} & set(self.changed_data):
            try:
                patient_clinician_validate(clinic=clinic, clinician=clinician)
            except ValidationError as exc:
                self.add_error(None, exc)
        return cleaned
