"""The auditor's filters (dates in the clinic's zone, who, what, which patient) and the admin's
settings forms (the reminder policy, the risk rules' thresholds)."""

from __future__ import annotations

import datetime
import re
import zoneinfo
from typing import Any

from django import forms
from django.utils import timezone

from aftercare.models import RiskRule, RiskRuleSetting
from aftercare.risk.rules import RULES, Rule
from aftercare.services.risk import RiskRuleChange
from clinic.models import AccessAction, Clinic
from clinic.models.organisation import (
    MISSED_SESSION_GRACE_MAX_MINUTES,
    REMINDER_OFFSET_MAX_MINUTES,
    REMINDER_OFFSET_MIN_MINUTES,
    REMINDER_OFFSETS_MAX,
)

# What each action means, in words: on one patient's page, and in the clinic's log.
PATIENT_ACTION_WORDS = {
    AccessAction.VIEW: "Opened the record",
    AccessAction.LIST: "Appeared in a list",
    AccessAction.CREATE: "Created a record",
    AccessAction.UPDATE: "Changed the record",
    AccessAction.DELETE: "Deleted a record",
    AccessAction.EXPORT: "Exported",
    AccessAction.DENIED: "Refused access",
}
LOG_ACTION_WORDS = {
    AccessAction.VIEW: "Opened a record",
    AccessAction.LIST: "Listed records",
    AccessAction.CREATE: "Created a record",
    AccessAction.UPDATE: "Changed a record",
    AccessAction.DELETE: "Deleted a record",
    AccessAction.EXPORT: "Exported",
    AccessAction.DENIED: "Refused access",
}


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs, format="%Y-%m-%d")


class DateRangeForm(forms.Form):
    """From and To are the clinic's calendar days, both included."""

    date_from = forms.DateField(label="From", required=False, widget=DateInput())
    date_to = forms.DateField(label="To", required=False, widget=DateInput(), help_text="Included.")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "Must be on or after the From date.")
        return cleaned

    def instants(self, zone: zoneinfo.ZoneInfo) -> tuple[datetime.datetime | None, datetime.datetime | None]:
        """[since, until) in UTC: from the start of the From day to the end of the To day, local."""
        if not self.is_valid():
            return None, None
        start, end = self.cleaned_data.get("date_from"), self.cleaned_data.get("date_to")
        since = _midnight(start, zone) if start else None
        until = _midnight(end + datetime.timedelta(days=1), zone) if end else None
        return since, until


def _midnight(day: datetime.date, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min), zone)


class AccessLogFilterForm(DateRangeForm):
    who = forms.ChoiceField(label="Staff member or client", required=False)
    action = forms.ChoiceField(
        label="What",
        required=False,
        choices=[("", "Anything"), *((action.value, LOG_ACTION_WORDS[action]) for action in AccessAction)],
    )
    patient = forms.CharField(label="Patient", required=False, max_length=100, help_text="MRN, or the start of a name.")
    patient_id = forms.UUIDField(required=False, widget=forms.HiddenInput())

    field_order = ["who", "action", "patient", "date_from", "date_to", "patient_id"]

    def __init__(self, *args: Any, actors: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        who = self.fields["who"]
        if isinstance(who, forms.ChoiceField):
            who.choices = [("", "Anyone"), *actors]


# --- the admin's settings ---------------------------------------------------------------------------

_OFFSET = re.compile(r"^\s*(\d{1,6})\s*(h|hours?|m|min|minutes?)?\s*$", re.IGNORECASE)


def duration_text(minutes: int) -> str:
    """2h, 90m, 0: in whole hours where it is some."""
    if minutes == 0:
        return "0"
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def offsets_text(minutes: list[int]) -> str:
    """48h, 2h, 90m: each offset in whole hours where it is one."""
    return ", ".join(duration_text(value) for value in minutes)


def _minutes(text: str) -> int | None:
    """Minutes from '2h', '90m' or '3' (a number alone is hours); None when it is none of them."""
    match = _OFFSET.match(text)
    if match is None:
        return None
    return int(match.group(1)) * (60 if (match.group(2) or "h").lower().startswith("h") else 1)


class ReminderPolicyForm(forms.Form):
    display_name = forms.CharField(
        label="Name patients see",
        max_length=200,
        required=False,
        help_text="The neutral name in reminders (e.g. 'Riverbend Health'); it must not reveal the kind of "
        "treatment. Empty: the clinic's own name.",
    )
    reminder_sender_name = forms.CharField(
        label="Sender name", max_length=100, required=False, help_text="Empty: the name patients see."
    )
    phone = forms.CharField(label="Phone shown in reminders", max_length=32, required=False)
    reminder_offsets = forms.CharField(
        label="Send reminders before each session",
        max_length=100,
        help_text=(
            "Comma separated, in hours (h) or minutes (m), e.g. 48h, 2h, 30m (a number alone is hours): "
            f"up to {REMINDER_OFFSETS_MAX}, "
            f"each from {REMINDER_OFFSET_MIN_MINUTES} minute to {REMINDER_OFFSET_MAX_MINUTES // (24 * 60)} days. "
            "Sessions booked from now on follow the change."
        ),
    )
    quiet_hours_start = forms.TimeField(
        label="Quiet hours start", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text="Clinic time; no reminder goes out from here…",
    )  # fmt: skip
    quiet_hours_end = forms.TimeField(
        label="Quiet hours end", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text="…until here (the same as the start: no quiet hours); 16 hours at most.",
    )  # fmt: skip
    missed_session_message = forms.BooleanField(
        label="Email a patient who missed a session, asking them to call", required=False
    )
    missed_session_grace = forms.CharField(
        label="Wait before that email",
        max_length=20,
        help_text=(
            "After the no-show is recorded, in hours (h) or minutes (m), e.g. 2h or 30m; 0 sends it at once. "
            f"At most {MISSED_SESSION_GRACE_MAX_MINUTES // 60} hours. "
            "If the mark is taken back or corrected meanwhile, nothing is sent."
        ),
    )

    @classmethod
    def initial_for(cls, clinic: Clinic) -> dict[str, Any]:
        return {
            "display_name": clinic.display_name,
            "reminder_sender_name": clinic.reminder_sender_name,
            "phone": clinic.phone,
            "reminder_offsets": offsets_text(clinic.reminder_offsets_minutes),
            "quiet_hours_start": clinic.quiet_hours_start,
            "quiet_hours_end": clinic.quiet_hours_end,
            "missed_session_message": clinic.missed_session_message,
            "missed_session_grace": duration_text(clinic.missed_session_grace_minutes),
        }

    def clean_missed_session_grace(self) -> int:
        text = self.cleaned_data["missed_session_grace"]
        value = _minutes(text)
        if value is None:
            raise forms.ValidationError(f"{text.strip()!r} is not a number of hours or minutes (e.g. 2h, 30m).")
        if value > MISSED_SESSION_GRACE_MAX_MINUTES:
            raise forms.ValidationError(f"At most {MISSED_SESSION_GRACE_MAX_MINUTES // 60} hours.")
        return value

    def clean_reminder_offsets(self) -> list[int]:
        text = self.cleaned_data["reminder_offsets"]
        parts = [part for part in text.split(",") if part.strip()]
        if not parts:
            raise forms.ValidationError("Give at least one offset, e.g. 48h.")
        minutes: list[int] = []
        for part in parts:
            value = _minutes(part)
            if value is None:
                raise forms.ValidationError(f"{part.strip()!r} is not a number of hours or minutes (e.g. 48h, 30m).")
            if not REMINDER_OFFSET_MIN_MINUTES <= value <= REMINDER_OFFSET_MAX_MINUTES:
                raise forms.ValidationError(f"{part.strip()} is out of bounds: from 1 minute to 30 days.")
            minutes.append(value)
        if len(minutes) > REMINDER_OFFSETS_MAX:
            raise forms.ValidationError(f"At most {REMINDER_OFFSETS_MAX} offsets.")
        if len(set(minutes)) != len(minutes):
            raise forms.ValidationError("Each offset may be given once.")
        return sorted(minutes, reverse=True)


def threshold_field_name(rule: str, name: str) -> str:
    return f"{rule}__{name}"


def _words(name: str) -> str:
    return name.replace("_", " ").capitalize()


class RiskThresholdsForm(forms.Form):
    """One box per threshold of every rule (bounds from `aftercare.risk.rules`), and whether the
    rule runs at all."""

    def __init__(self, *args: Any, settings: dict[str, RiskRuleSetting], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rules: list[tuple[Rule, list[str]]] = []
        for code, rule in RULES.items():
            setting = settings.get(code)
            current = {**rule.defaults(), **(setting.thresholds if setting is not None else {})}
            enabled_name = threshold_field_name(code, "enabled")
            self.fields[enabled_name] = forms.BooleanField(
                label="This rule raises flags", required=False, initial=setting.enabled if setting else True
            )
            names = [enabled_name]
            for name, limit in rule.thresholds.items():
                field_name = threshold_field_name(code, name)
                self.fields[field_name] = forms.IntegerField(
                    label=_words(name),
                    min_value=limit.minimum,
                    max_value=limit.maximum,
                    initial=current.get(name, limit.default),
                    help_text=f"{limit.help} From {limit.minimum} to {limit.maximum}; default {limit.default}.",
                )
                names.append(field_name)
            self.rules.append((rule, names))

    def changes(self) -> dict[str, RiskRuleChange]:
        """The rules whose boxes the admin changed (the others are not written, so the change
        history names only what changed)."""
        data, changed = self.cleaned_data, set(self.changed_data)
        return {
            code: RiskRuleChange(
                enabled=bool(data.get(threshold_field_name(code, "enabled"))),
                thresholds={name: data[threshold_field_name(code, name)] for name in rule.thresholds},
            )
            for code, rule in RULES.items()
            if changed & {threshold_field_name(code, name) for name in ("enabled", *rule.thresholds)}
        }

    def fieldsets(self) -> list[tuple[Rule, str, list[forms.BoundField]]]:
        labels = dict(RiskRule.choices)
        return [
            (rule, str(labels.get(rule.code, rule.code)), [self[name] for name in names]) for rule, names in self.rules
        ]
