"""`/patients/<id>/outside-meetings/new/`: a meeting outside the clinic the patient says they went to."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone

from aftercare.dashboard.pages import record, show, staff_page
from aftercare.dashboard.patients.common import patient_of, service_errors
from aftercare.models import OutsideMeetingKind
from aftercare.services.groups import outside_meeting_record
from clinic.auth.caller import Caller
from clinic.models import AccessAction

OBJECT_TYPE = "dashboard.outside_meeting"


class OutsideMeetingForm(forms.Form):
    date = forms.DateField(label="Date", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    kind = forms.ChoiceField(label="Kind of meeting", choices=OutsideMeetingKind.choices)
    note = forms.CharField(
        label="Note (optional)",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="e.g. the meeting's name and place, as the patient said.",
    )

    def clean_date(self) -> Any:
        day = self.cleaned_data["date"]
        if day > timezone.localdate():
            raise ValidationError("A meeting the patient went to cannot be in the future.")
        return day


@staff_page(scopes=["patients:read", "attendance:write"], object_type=OBJECT_TYPE)
def outside_meeting_new(request: HttpRequest, caller: Caller, patient_id: uuid.UUID) -> HttpResponse:
    patient = patient_of(caller, patient_id)
    form = OutsideMeetingForm(request.POST or None, initial={"date": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        try:
            meeting = outside_meeting_record(by=caller, patient=patient, **form.cleaned_data)
        except ValidationError as exc:
            service_errors(form, exc)
        else:
            record(
                request,
                action=AccessAction.CREATE,
                object_type=OBJECT_TYPE,
                object_ids=[meeting.pk],
                patient_ids=[patient.pk],
            )
            messages.success(request, "The outside meeting is recorded.")
            return redirect("dashboard:patient", patient_id=patient.pk)
    return show(
        request,
        "dashboard/patients/outside_meeting_form.html",
        {"patient": patient, "form": form},
        object_type=OBJECT_TYPE,
        object_ids=[patient.pk],
        patient_ids=[patient.pk],
    )
