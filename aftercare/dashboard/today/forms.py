"""Forms of the Today board and the group roster."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms

from aftercare.models import AttendanceStatus, GroupAttendanceStatus
from aftercare.selectors.today import RosterRow

WHO = [("mine", "Mine"), ("all", "Whole clinic")]


class BoardFilterForm(forms.Form):
    who = forms.ChoiceField(label="Show", choices=WHO, required=False)


class MarkForm(forms.Form):
    """One button of a row: the status it records (the reason only on the correction page)."""

    status = forms.ChoiceField(choices=AttendanceStatus.choices)
    reason = forms.CharField(required=False, max_length=1000)
    who = forms.ChoiceField(choices=WHO, required=False)


class CorrectionForm(forms.Form):
    status = forms.ChoiceField(label="New status", choices=AttendanceStatus.choices)
    reason = forms.CharField(
        label="Reason for the change",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Needed to change a recorded mark, unless you made it in the last few minutes.",
    )
    who = forms.ChoiceField(choices=WHO, required=False, widget=forms.HiddenInput)


class RosterForm(forms.Form):
    """A status per row (preset to attended, or the recorded status) and, for rows already
    recorded, a reason box for changing them. One submit saves the whole session."""

    def __init__(self, rows: Sequence[RosterRow], data: Any = None) -> None:
        initial = {self.status_name(row): row.status or GroupAttendanceStatus.ATTENDED for row in rows}
        super().__init__(data, initial=initial)
        self.rows = list(rows)
        for row in rows:
            name = f"{row.patient.given_name} {row.patient.family_name}"
            self.fields[self.status_name(row)] = forms.ChoiceField(
                label=f"Attendance of {name}", choices=GroupAttendanceStatus.choices
            )
            if row.recorded is not None:
                self.fields[self.reason_name(row)] = forms.CharField(
                    label=f"Reason to change {name}'s recorded mark", required=False, max_length=1000
                )

    @staticmethod
    def status_name(row: RosterRow) -> str:
        return f"status-{row.patient.pk}"

    @staticmethod
    def reason_name(row: RosterRow) -> str:
        return f"reason-{row.patient.pk}"

    def entries(self) -> list[tuple[Any, str, str]]:
        return [
            (row.patient, self.cleaned_data[self.status_name(row)], self.cleaned_data.get(self.reason_name(row), ""))
            for row in self.rows
        ]

    def bound_rows(self) -> list[tuple[RosterRow, forms.BoundField, forms.BoundField | None]]:
        return [
            (row, self[self.status_name(row)], self[self.reason_name(row)] if row.recorded is not None else None)
            for row in self.rows
        ]
