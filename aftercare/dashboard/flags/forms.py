"""Forms of the flag queue, the flag page and the outreach log."""

from __future__ import annotations

from typing import Any

from django import forms

from aftercare.models import OutreachChannel, OutreachOutcome, RiskRule, Severity
from aftercare.services.outreach import NOTE_MAX_LENGTH

STATUS_CHOICES = [
    ("active", "Open and acknowledged"),
    ("open", "Open"),
    ("acknowledged", "Acknowledged"),
    ("resolved", "Resolved"),
    ("dismissed", "Dismissed"),
    ("all", "Any status"),
]
STATUSES = {
    "active": ("open", "acknowledged"),
    "open": ("open",),
    "acknowledged": ("acknowledged",),
    "resolved": ("resolved",),
    "dismissed": ("dismissed",),
    "all": ("open", "acknowledged", "resolved", "dismissed"),
}
AGE_CHOICES = [
    ("", "Any time"),
    ("7", "Within 7 days"),
    ("30", "Within 30 days"),
    ("90", "Within 90 days"),
    ("older", "More than 90 days ago"),
]


class FlagFilterForm(forms.Form):
    whose = forms.ChoiceField(
        label="Patients", choices=[("all", "All patients"), ("mine", "My patients")], required=False
    )
    severity = forms.ChoiceField(label="Severity", choices=[("", "Any severity"), *Severity.choices], required=False)
    rule = forms.ChoiceField(label="Rule", choices=[("", "Any rule"), *RiskRule.choices], required=False)
    status = forms.ChoiceField(label="Status", choices=STATUS_CHOICES, required=False)
    age = forms.ChoiceField(label="Raised", choices=AGE_CHOICES, required=False)

    def filters(self) -> dict[str, Any]:
        """The filters asked for; anything invalid falls back to its default (a GET form)."""
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "mine": data.get("whose") == "mine",
            "severity": data.get("severity") or "",
            "rule": data.get("rule") or "",
            "statuses": STATUSES[data.get("status") or "active"],
            "age": data.get("age") or "",
        }


class AcknowledgeForm(forms.Form):
    prefix = "ack"
    note = forms.CharField(
        label="Note (optional)", required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2})
    )


class CloseForm(forms.Form):
    prefix = "close"
    note = forms.CharField(
        label="Why is it closed?",
        max_length=4000,
        help_text="Required: what was done, or why the flag is not a concern.",
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Say why the flag is closed."},
    )


class OutreachForm(forms.Form):
    prefix = "outreach"
    channel = forms.ChoiceField(label="How", choices=OutreachChannel.choices)
    outcome = forms.ChoiceField(label="Outcome", choices=OutreachOutcome.choices)
    attempted_at = forms.DateTimeField(
        label="When",
        required=False,
        help_text="Clinic time; leave empty for now.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )
    follow_up_on = forms.DateField(
        label="Follow up on",
        required=False,
        help_text="Optional: the day to try again.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    note = forms.CharField(
        label="Note", required=False, max_length=NOTE_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 2})
    )
    flag = forms.UUIDField(required=False, widget=forms.HiddenInput)
    next = forms.CharField(required=False, widget=forms.HiddenInput)
