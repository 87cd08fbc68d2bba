"""The caseload's and the patient list's filters: plain GET forms."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms

from aftercare.dashboard.pages import name_of
from aftercare.models import Severity
from aftercare.selectors.caseload import NO_RISK
from clinic.models import PatientStatus, User

WHOLE_CLINIC = "all"
RISK_CHOICES = [("", "Any risk"), *[(s.value, str(s.label)) for s in reversed(Severity)], (NO_RISK, "No open flag")]


class CaseloadFilterForm(forms.Form):
    whose = forms.ChoiceField(
        label="Caseload of", required=False, error_messages={"invalid_choice": "Choose one of the clinic's care staff."}
    )
    q = forms.CharField(
        label="Name or MRN",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}),
    )
    risk = forms.ChoiceField(label="Risk", required=False, choices=RISK_CHOICES)

    def __init__(self, *args: Any, staff: Iterable[User], me: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        others = [(str(user.pk), name_of(user)) for user in staff if user.pk != me.pk]
        whose = self.fields["whose"]
        assert isinstance(whose, forms.ChoiceField)  # noqa: S101 (declared just above)
        whose.choices = [
            ("", f"Me ({name_of(me)})"),
            *sorted(others, key=lambda choice: choice[1].lower()),
            (WHOLE_CLINIC, "Whole clinic"),
        ]


class PatientSearchForm(forms.Form):
    q = forms.CharField(
        label="Name or MRN",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}),
    )
    born = forms.DateField(
        label="Date of birth",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="Year-month-day, e.g. 1980-11-24.",
    )
    status = forms.ChoiceField(label="Status", required=False, choices=[("", "Any status"), *PatientStatus.choices])
