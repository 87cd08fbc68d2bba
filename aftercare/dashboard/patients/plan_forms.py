"""The aftercare plan as forms: the plan's own fields, its activities, and the people in it.

Lists (warning signs, triggers, coping strategies, routine) are one item per line; activities and
contacts are formsets with empty extra rows, so the page works without JavaScript. Limits are the
API's (aftercare/api/plans.py), so the same plan is valid through either door.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from aftercare.models import (
    ActivityKind,
    AftercarePlan,
    FrequencyPeriod,
    Medication,
    PlanActivity,
    PlanStatus,
    SupportGroupKind,
    TriggerCategory,
    WellnessKind,
)
from aftercare.services.plans import TRANSITIONS
from clinic.api.phones import CONTACT_PHONE

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def lines(text: str) -> list[str]:
    """One item per non-blank line, trimmed."""
    return [line.strip() for line in text.splitlines() if line.strip()]


class LinesField(forms.CharField):
    """A textarea holding a list: one item per line, each at most `item_length` characters."""

    widget = forms.Textarea(attrs={"rows": 4})

    def __init__(self, *, item_length: int = 300, max_items: int = 50, **kwargs: Any) -> None:
        self.item_length, self.max_items = item_length, max_items
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def clean(self, value: Any) -> list[str]:
        items = lines(super().clean(value) or "")
        if len(items) > self.max_items:
            raise ValidationError(f"At most {self.max_items} lines.")
        for number, item in enumerate(items, start=1):
            if len(item) > self.item_length:
                raise ValidationError(f"Line {number} is longer than {self.item_length} characters.")
        return items


_TRIGGER_BY_LABEL = {str(label).lower(): value for value, label in TriggerCategory.choices}
_TRIGGER_BY_LABEL.update({value.replace("_", " "): value for value in TriggerCategory.values})


def trigger_from_line(line: str) -> dict[str, str]:
    """ "Stress: deadlines at work" → {"category": "stress", "description": "deadlines at work"};
    a line without a known category is an "other" trigger described by the whole line."""
    head, colon, rest = line.partition(":")
    category = _TRIGGER_BY_LABEL.get(head.strip().lower()) if colon else None
    if category is None:
        return {"category": TriggerCategory.OTHER, "description": line}
    return {"category": category, "description": rest.strip()}


def trigger_to_line(trigger: dict[str, Any]) -> str:
    category, description = trigger.get("category", TriggerCategory.OTHER), trigger.get("description", "")
    if category == TriggerCategory.OTHER and description:
        return str(description)
    label = TriggerCategory(category).label if category in TriggerCategory.values else category
    return f"{label}: {description}" if description else str(label)


class PlanForm(forms.Form):
    status = forms.ChoiceField(label="Status")
    start_date = forms.DateField(label="Start date", required=False, widget=DATE)
    end_date = forms.DateField(label="End date", required=False, widget=DATE)
    goals = forms.CharField(label="Goals", required=False, widget=forms.Textarea(attrs={"rows": 3}))
    warning_signs = LinesField(label="Warning signs", help_text="The patient's personal red flags, one per line.")
    triggers = LinesField(
        label="Triggers",
        help_text=(
            "One per line; start with a kind to file it (Stress, Negative emotions, Social pressure, "
            "Celebrations, Physical pain or illness, People and places tied to past use), "
            "e.g. “Stress: deadlines at work”."
        ),
    )
    coping_strategies = LinesField(label="Coping strategies", help_text="One per line.")
    daily_routine = forms.CharField(
        label="Daily routine", required=False, widget=forms.Textarea(attrs={"rows": 4}), help_text="One step per line."
    )
    where_to_go = forms.CharField(
        label="Emergency plan: where to go", required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )
    what_to_do = forms.CharField(
        label="Emergency plan: what to do", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
    sponsor_name = forms.CharField(label="Sponsor's name", required=False, max_length=200)
    sponsor_phone = forms.CharField(label="Sponsor's phone", required=False, max_length=32, validators=[CONTACT_PHONE])
    checkin_every_days = forms.IntegerField(
        label="Check-ins every (days)",
        required=False,
        min_value=0,
        max_value=90,
        help_text="How often the patient gets a check-in by email while this plan is active, if they agreed "
        "to them; 0: none. Left empty: 7 for a new plan, unchanged for this one.",
    )

    def __init__(self, *args: Any, plan: AftercarePlan | None = None, **kwargs: Any) -> None:
        if plan is not None and "initial" not in kwargs:
            kwargs["initial"] = plan_initial(plan)
        super().__init__(*args, **kwargs)
        status_field: Any = self.fields["status"]
        if plan is None:
            status_field.choices = [(PlanStatus.DRAFT, "Draft"), (PlanStatus.ACTIVE, "Active")]
            status_field.initial = PlanStatus.ACTIVE
        else:
            allowed = [plan.status, *sorted(TRANSITIONS[plan.status])]
            status_field.choices = [(value, PlanStatus(value).label) for value in allowed]
            status_field.help_text = "Completing or discontinuing a plan keeps it as it is, as history."

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start_date"), data.get("end_date")
        if start and end and end < start:
            self.add_error("end_date", "Must not be before the start date.")
        if bool(data.get("sponsor_name")) != bool(data.get("sponsor_phone")):
            missing = "sponsor_phone" if data.get("sponsor_name") else "sponsor_name"
            self.add_error(missing, "Give the sponsor's name and phone, or neither.")
        return data

    def plan_fields(self) -> dict[str, Any]:
        """The service's fields (aftercare.services.plans.PLAN_FIELDS) from the cleaned form."""
        data = self.cleaned_data
        return {
            "start_date": data["start_date"],
            "end_date": data["end_date"],
            "goals": data["goals"],
            "warning_signs": data["warning_signs"],
            "triggers": [trigger_from_line(line) for line in data["triggers"]],
            "coping_strategies": data["coping_strategies"],
            "daily_routine": "\n".join(lines(data["daily_routine"])),
            "sponsor": {"name": data["sponsor_name"], "phone": data["sponsor_phone"]} if data["sponsor_name"] else None,
            **({} if data.get("checkin_every_days") is None else {"checkin_every_days": data["checkin_every_days"]}),
        }


def plan_initial(plan: AftercarePlan) -> dict[str, Any]:
    emergency = plan.emergency_plan or {}
    sponsor = plan.sponsor or {}
    return {
        "status": plan.status,
        "start_date": plan.start_date,
        "end_date": plan.end_date,
        "goals": plan.goals,
        "warning_signs": "\n".join(plan.warning_signs),
        "triggers": "\n".join(trigger_to_line(trigger) for trigger in plan.triggers or []),
        "coping_strategies": "\n".join(plan.coping_strategies),
        "daily_routine": plan.daily_routine,
        "where_to_go": emergency.get("where_to_go", ""),
        "what_to_do": emergency.get("what_to_do", ""),
        "sponsor_name": sponsor.get("name", ""),
        "sponsor_phone": sponsor.get("phone", ""),
        "checkin_every_days": plan.checkin_every_days,
    }


class ContactForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200, required=False)
    relationship = forms.CharField(label="Relationship", max_length=100, required=False)
    phone = forms.CharField(label="Phone", max_length=32, required=False, validators=[CONTACT_PHONE])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("relationship") and not data.get("name"):
            self.add_error("name", "Give the person's name.")
        if data.get("name") and not data.get("phone"):
            self.add_error("phone", "Give a phone number to call.")
        if data.get("phone") and not data.get("name"):
            self.add_error("name", "Give the person's name.")
        return data


ContactFormSet = forms.formset_factory(ContactForm, extra=2, max_num=20, validate_max=True)


def contacts_of(formset: forms.BaseFormSet[ContactForm]) -> list[dict[str, str]]:
    return [
        {
            "name": f.cleaned_data["name"],
            "relationship": f.cleaned_data["relationship"],
            "phone": f.cleaned_data["phone"],
        }
        for f in formset.forms
        if f.cleaned_data.get("name")
    ]


class ActivityForm(forms.Form):
    id = forms.UUIDField(required=False, widget=forms.HiddenInput)
    kind = forms.ChoiceField(label="Kind", choices=[("", "—"), *ActivityKind.choices], required=False)
    frequency_count = forms.IntegerField(label="How often", min_value=1, max_value=31, required=False)
    frequency_period = forms.ChoiceField(label="Per", choices=FrequencyPeriod.choices, initial=FrequencyPeriod.WEEK)
    provider = forms.CharField(label="Provider", max_length=200, required=False)
    medication = forms.ChoiceField(label="Medication (MAT)", choices=[("", "—"), *Medication.choices], required=False)
    dose_schedule = forms.CharField(label="Dose schedule", max_length=200, required=False)
    medication_started_on = forms.DateField(label="Medication started", required=False, widget=DATE)
    support_group_kind = forms.ChoiceField(
        label="Support group", choices=[("", "—"), *SupportGroupKind.choices], required=False
    )
    wellness_kind = forms.ChoiceField(label="Wellness", choices=[("", "—"), *WellnessKind.choices], required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        deleting = data.get("DELETE")
        if not deleting and self.has_changed() and not data.get("kind"):
            self.add_error("kind", "Choose the kind of activity (or leave the whole row empty).")
        return data

    def service_item(self) -> dict[str, Any]:
        data = self.cleaned_data
        item = {
            "kind": data["kind"],
            "frequency_count": data["frequency_count"] or 1,
            "frequency_period": data["frequency_period"],
            "provider": data["provider"],
            "medication": data["medication"],
            "dose_schedule": data["dose_schedule"],
            "medication_started_on": data["medication_started_on"],
            "support_group_kind": data["support_group_kind"],
            "wellness_kind": data["wellness_kind"],
        }
        if data.get("id"):
            item["id"] = data["id"]
        return item


ActivityFormSet = forms.formset_factory(ActivityForm, extra=2, max_num=30, validate_max=True, can_delete=True)


def activity_initial(activity: PlanActivity) -> dict[str, Any]:
    return {
        "id": activity.pk,
        "kind": activity.kind,
        "frequency_count": activity.frequency_count,
        "frequency_period": activity.frequency_period,
        "provider": activity.provider,
        "medication": activity.medication,
        "dose_schedule": activity.dose_schedule,
        "medication_started_on": activity.medication_started_on,
        "support_group_kind": activity.support_group_kind,
        "wellness_kind": activity.wellness_kind,
    }


def kept_activities(formset: forms.BaseFormSet[ActivityForm]) -> list[ActivityForm]:
    """The rows that hold an activity (filled in, not marked for removal), in order."""
    return [form for form in formset.forms if form.cleaned_data.get("kind") and not form.cleaned_data.get("DELETE")]
