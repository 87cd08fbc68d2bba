"""`/patients/<id>/series/new/`: book a weekly series from weekday boxes and a time, never an RRULE
typed by hand. The rule is built here (`weekly_rrule`) and the series service books it."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone

from aftercare.dashboard.pages import name_of, record, show, staff_page
from aftercare.dashboard.patients.common import patient_of, sees_clinical_detail, service_errors
from aftercare.models import ActivityKind, PlanActivity
from aftercare.selectors.patients import plan_current
from aftercare.services.series import series_create
from clinic.auth.caller import Caller
from clinic.models import AccessAction
from clinic.selectors.patients import care_staff_list

OBJECT_TYPE = "dashboard.series"
WEEKDAYS = (
    ("MO", "Monday"),
    ("TU", "Tuesday"),
    ("WE", "Wednesday"),
    ("TH", "Thursday"),
    ("FR", "Friday"),
    ("SA", "Saturday"),
    ("SU", "Sunday"),
)


def weekly_rrule(
    weekdays: Iterable[str], *, interval: int = 1, count: int | None = None, until: datetime.date | None = None
) -> str:
    """An RFC 5545 weekly rule (without DTSTART) for the chosen weekdays, in calendar order:
    `weekly_rrule(["TH", "MO"], count=12)` → "FREQ=WEEKLY;BYDAY=MO,TH;COUNT=12"."""
    order = [code for code, _ in WEEKDAYS]
    days = sorted(set(weekdays), key=order.index)
    if not days:
        raise ValueError("at least one weekday")
    if count is not None and until is not None:
        raise ValueError("a count or an end date, not both")
    parts = ["FREQ=WEEKLY"]
    if interval != 1:
        parts.append(f"INTERVAL={interval}")
    parts.append("BYDAY=" + ",".join(days))
    if count is not None:
        parts.append(f"COUNT={count}")
    if until is not None:
        parts.append(f"UNTIL={until:%Y%m%d}")
    return ";".join(parts)


class ClinicianChoice(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return name_of(obj)


class ActivityChoice(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        label = str(ActivityKind(obj.kind).label)
        return f"{label}, {obj.frequency_count} {obj.get_frequency_period_display()}" + (
            f" ({obj.provider})" if obj.provider else ""
        )


class SeriesForm(forms.Form):
    weekdays = forms.MultipleChoiceField(
        label="On",
        choices=WEEKDAYS,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one weekday."},
    )
    start_time = forms.TimeField(
        label="At (clinic time)", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    duration_minutes = forms.IntegerField(label="Duration (minutes)", min_value=5, max_value=12 * 60, initial=50)
    starts_on = forms.DateField(
        label="First week from", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    ends_on = forms.DateField(
        label="Until (optional)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="The last date with a session. Leave empty, or give a number of sessions instead.",
    )
    count = forms.IntegerField(label="Number of sessions (optional)", min_value=1, max_value=520, required=False)
    interval = forms.TypedChoiceField(
        label="Every", coerce=int, choices=[(n, "week" if n == 1 else f"{n} weeks") for n in range(1, 9)], initial=1
    )
    clinician = ClinicianChoice(label="Clinician", queryset=None)
    kind = forms.ChoiceField(label="Kind of session", choices=ActivityKind.choices)
    activity = ActivityChoice(label="Plan activity (optional)", queryset=None, required=False)
    location = forms.CharField(label="Location", max_length=200, required=False)

    def __init__(self, *args: Any, caller: Caller, activities: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        clinician: Any = self.fields["clinician"]
        clinician.queryset = care_staff_list(clinic=caller.clinic).order_by("last_name", "first_name", "username")
        activity: Any = self.fields["activity"]
        if activities is None:  # plan activities are clinical detail
            del self.fields["activity"]
        else:
            activity.queryset = activities

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        starts_on, ends_on = data.get("starts_on"), data.get("ends_on")
        if starts_on and ends_on and ends_on < starts_on:
            self.add_error("ends_on", "Must not be before the first week.")
        if ends_on and data.get("count"):
            self.add_error("count", "Give an end date or a number of sessions, not both.")
        activity = data.get("activity")
        if activity is not None and data.get("kind") and activity.kind != data["kind"]:
            self.add_error("activity", "This activity is of another kind than the session.")
        return data

    def rrule(self) -> str:
        data = self.cleaned_data
        return weekly_rrule(data["weekdays"], interval=data["interval"], count=data["count"], until=data["ends_on"])


# The service's field names, as this form names them.
_FORM_FIELD = {"rrule": "weekdays", "local_start_time": "start_time", "ended_on": "ends_on"}


def _renamed(exc: ValidationError) -> ValidationError:
    if not hasattr(exc, "error_dict"):
        return exc
    return ValidationError({_FORM_FIELD.get(key, key): errors for key, errors in exc.error_dict.items()})


@staff_page(scopes=["patients:read", "schedule:write"], object_type=OBJECT_TYPE)
def series_new(request: HttpRequest, caller: Caller, patient_id: uuid.UUID) -> HttpResponse:
    patient = patient_of(caller, patient_id)
    activities = None
    if sees_clinical_detail(caller):
        plan = plan_current(patient=patient)
        activities = PlanActivity.objects.filter(plan=plan) if plan else PlanActivity.objects.none()
    initial = {"clinician": patient.assigned_clinician_id, "starts_on": timezone.localdate()}
    form = SeriesForm(request.POST or None, caller=caller, activities=activities, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            series = series_create(
                by=caller,
                patient=patient,
                clinician=data["clinician"],
                activity=data.get("activity"),
                kind=data["kind"],
                rrule=form.rrule(),
                starts_on=data["starts_on"],
                local_start_time=data["start_time"],
                duration_minutes=data["duration_minutes"],
                location=data["location"],
            )
        except ValidationError as exc:
            service_errors(form, _renamed(exc))
        else:
            record(
                request,
                action=AccessAction.CREATE,
                object_type=OBJECT_TYPE,
                object_ids=[series.pk],
                patient_ids=[patient.pk],
            )
            booked = series.appointments.count()
            text = f"Weekly series booked: {booked} session{'s' if booked != 1 else ''} in the next 90 days."
            if series.skipped_dates:
                text += f" {len(series.skipped_dates)} date(s) not booked: the clinician is busy then."
            messages.success(request, text)
            return redirect("dashboard:patient", patient_id=patient.pk)
    return show(
        request,
        "dashboard/patients/series_form.html",
        {"patient": patient, "form": form},
        object_type=OBJECT_TYPE,
        object_ids=[patient.pk],
        patient_ids=[patient.pk],
    )
