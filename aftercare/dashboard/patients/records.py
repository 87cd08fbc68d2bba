"""The patient page's clinical records: care transitions, medication events, drug screens. Each has
a section on the patient page (most recent first) with a form to record one and, on each row, a form
to mark it entered in error. The forms post here; a refused one comes back on a page of its own with
its errors. Who may read or record each kind is what the API's scopes say (front desk: neither)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from rest_framework.exceptions import ValidationError as ServiceValidationError

from aftercare.dashboard.pages import form_errors_from_service, in_clinic, record, show, staff_page
from aftercare.dashboard.patients.common import patient_of, refuse
from aftercare.models import (
    Analyte,
    CareTransition,
    DrugScreen,
    LevelOfCare,
    Medication,
    MedicationEvent,
    MedicationEventKind,
    ScreenResult,
    Specimen,
    TransitionDirection,
)
from aftercare.models.records import TAKE_HOME_MAX_DAYS, ClinicalRecord
from aftercare.selectors.records import patient_care_transitions, patient_drug_screens, patient_medication_events
from aftercare.services.records import (
    ResultInput,
    care_transition_create,
    drug_screen_create,
    medication_event_create,
    record_mark_entered_in_error,
)
from aftercare.services.records.common import NOTES_MAX_LENGTH, REASON_MAX_LENGTH
from clinic.auth.caller import Caller
from clinic.models import AccessAction, Patient

_DAY = {"widget": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}


def _not_future(day: Any) -> Any:
    if day is not None and day > timezone.localdate():
        raise forms.ValidationError("Cannot be in the future.")
    return day


class CareTransitionForm(forms.Form):
    prefix = "transition"
    direction = forms.ChoiceField(label="Direction", choices=TransitionDirection.choices)
    level_of_care = forms.ChoiceField(
        label="Level of care", choices=LevelOfCare.choices, help_text="The level of care on the other side."
    )
    occurred_on = forms.DateField(label="Day", **_DAY)  # type: ignore[arg-type]
    source = forms.CharField(
        label="Facility (optional)", required=False, max_length=200, help_text="Where from or where to."
    )
    notes = forms.CharField(
        label="Notes (optional)", required=False, max_length=NOTES_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 2})
    )

    def clean_occurred_on(self) -> Any:
        return _not_future(self.cleaned_data["occurred_on"])


class MedicationEventForm(forms.Form):
    prefix = "medication"
    medication = forms.ChoiceField(label="Medication", choices=Medication.choices)
    kind = forms.ChoiceField(label="Event", choices=MedicationEventKind.choices)
    occurred_on = forms.DateField(label="Dosing day", **_DAY)  # type: ignore[arg-type]
    days_covered = forms.IntegerField(
        label="Days covered",
        required=False,
        min_value=1,
        max_value=TAKE_HOME_MAX_DAYS,
        help_text="Take-home supplies only (1 to 90).",
    )
    dose_mg = forms.DecimalField(
        label="Dose, mg (optional)", required=False, min_value=0.01, max_digits=7, decimal_places=2
    )
    notes = forms.CharField(
        label="Notes (optional)", required=False, max_length=NOTES_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 2})
    )

    def clean_occurred_on(self) -> Any:
        return _not_future(self.cleaned_data["occurred_on"])


_NOT_TESTED = ""
_RESULT_CHOICES = [(_NOT_TESTED, "Not tested"), *ScreenResult.choices]


class DrugScreenForm(forms.Form):
    """A screen and a result select per analyte (left at "Not tested" for those not on the panel)."""

    prefix = "screen"
    collected_on = forms.DateField(label="Collected on", **_DAY)  # type: ignore[arg-type]
    specimen = forms.ChoiceField(label="Specimen", choices=Specimen.choices, initial=Specimen.URINE)
    panel = forms.CharField(
        label="Panel (optional)", required=False, max_length=100, help_text='e.g. "12-panel + fentanyl".'
    )
    prescribed = forms.MultipleChoiceField(
        label="Prescribed: a positive result is expected",
        required=False,
        choices=Analyte.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="Methadone and buprenorphine are worked out from the plan; tick others prescribed.",
    )
    notes = forms.CharField(
        label="Notes (optional)", required=False, max_length=NOTES_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for value, label in Analyte.choices:
            self.fields[f"result_{value}"] = forms.ChoiceField(label=label, choices=_RESULT_CHOICES, required=False)

    def clean_collected_on(self) -> Any:
        return _not_future(self.cleaned_data["collected_on"])

    def results(self) -> list[ResultInput]:
        prescribed = set(self.cleaned_data.get("prescribed") or [])
        found = []
        for value in Analyte.values:
            result = self.cleaned_data.get(f"result_{value}") or _NOT_TESTED
            if result == _NOT_TESTED:
                continue
            stated = True if value in prescribed and result == ScreenResult.POSITIVE else None
            found.append(ResultInput(analyte=value, result=result, expected=stated))
        return found

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.errors and not self.results():
            raise forms.ValidationError("Give the result of at least one analyte.")
        return cleaned


class EnteredInErrorForm(forms.Form):
    reason = forms.CharField(
        label="Why is it wrong?",
        max_length=REASON_MAX_LENGTH,
        error_messages={"required": "Say why the record was entered in error."},
    )


@dataclass(frozen=True)
class Kind:
    """One kind of record as the patient page shows and records it."""

    slug: str
    title: str
    noun: str
    read: str
    write: str
    model: type[ClinicalRecord]
    form: type[forms.Form]
    rows: Callable[..., list[Any]]
    create: Callable[[Caller, Patient, forms.Form], ClinicalRecord]

    @property
    def object_type(self) -> str:
        return f"dashboard.{self.slug.replace('-', '_')}"

    @property
    def new_url(self) -> str:
        """The name of the route that records one (and of the error route, below)."""
        return f"patient_{self.slug.replace('-', '_')}_new"

    @property
    def error_url(self) -> str:
        return f"patient_{self.slug.replace('-', '_')}_error"


def _create_transition(by: Caller, patient: Patient, form: forms.Form) -> ClinicalRecord:
    return care_transition_create(by=by, patient=patient, **form.cleaned_data)


def _create_event(by: Caller, patient: Patient, form: forms.Form) -> ClinicalRecord:
    return medication_event_create(by=by, patient=patient, **form.cleaned_data)


def _create_screen(by: Caller, patient: Patient, form: forms.Form) -> ClinicalRecord:
    if not isinstance(form, DrugScreenForm):
        raise TypeError(form)
    data = form.cleaned_data
    return drug_screen_create(
        by=by,
        patient=patient,
        collected_on=data["collected_on"],
        specimen=data["specimen"],
        panel=data["panel"],
        notes=data["notes"],
        analyte_results=form.results(),
    )


KINDS = {
    kind.slug: kind
    for kind in (
        Kind(
            "care-transitions",
            "Care transitions",
            "care transition",
            "transitions:read",
            "transitions:write",
            CareTransition,
            CareTransitionForm,
            patient_care_transitions,
            _create_transition,
        ),
        Kind(
            "medication-events",
            "Medication events",
            "medication event",
            "medication:read",
            "medication:write",
            MedicationEvent,
            MedicationEventForm,
            patient_medication_events,
            _create_event,
        ),
        Kind(
            "drug-screens",
            "Drug screens",
            "drug screen",
            "screens:read",
            "screens:write",
            DrugScreen,
            DrugScreenForm,
            patient_drug_screens,
            _create_screen,
        ),
    )
}


def record_sections(caller: Caller, patient: Patient) -> list[dict[str, Any]]:
    """The patient page's sections of the kinds the caller may read, each with its rows (newest
    first) and, where the caller may record, an empty form."""
    sections = []
    for kind in KINDS.values():
        if not caller.has_scopes(frozenset({kind.read})):
            continue
        can_write = caller.has_scopes(frozenset({kind.write}))
        sections.append(
            {
                "kind": kind,
                "rows": kind.rows(clinic=caller.clinic, patient_id=patient.pk),
                "form": kind.form(initial={"occurred_on": timezone.localdate(), "collected_on": timezone.localdate()})
                if can_write
                else None,
                "can_write": can_write,
                "new_url": f"dashboard:{kind.new_url}",
                "error_url": f"dashboard:{kind.error_url}",
            }
        )
    return sections


def _kind(slug: str) -> Kind:
    kind = KINDS.get(slug)
    if kind is None:
        raise Http404
    return kind


def _form_page(request: HttpRequest, kind: Kind, patient: Patient, form: forms.Form, **extra: Any) -> HttpResponse:
    return show(
        request,
        "dashboard/patients/record_form.html",
        {
            "patient": patient,
            "kind": kind,
            "form": form,
            "new_url": f"dashboard:{kind.new_url}",
            "error_url": f"dashboard:{kind.error_url}",
            **extra,
        },
        object_type=kind.object_type,
        object_ids=[patient.pk],
        patient_ids=[patient.pk],
    )


@staff_page(scopes=["patients:read"], object_type="dashboard.clinical_record")
def record_new(request: HttpRequest, caller: Caller, patient_id: uuid.UUID, kind: str) -> HttpResponse:
    """Record one (POST); GET shows the form on a page of its own."""
    chosen = _kind(kind)
    patient = patient_of(caller, patient_id)
    if not caller.has_scopes(frozenset({chosen.write})):
        return refuse(request, object_type=chosen.object_type, patient=patient)
    form = chosen.form(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            made = chosen.create(caller, patient, form)
        except (ServiceValidationError, DjangoValidationError) as exc:
            form_errors_from_service(form, exc)
        else:
            record(
                request,
                action=AccessAction.CREATE,
                object_type=chosen.object_type,
                object_ids=[made.pk],
                patient_ids=[patient.pk],
            )
            messages.success(request, f"The {chosen.noun} is recorded.")
            return redirect(f"{_patient_url(patient)}#{chosen.slug}")
    return _form_page(request, chosen, patient, form)


@staff_page(scopes=["patients:read"], object_type="dashboard.clinical_record")
def record_entered_in_error(
    request: HttpRequest, caller: Caller, patient_id: uuid.UUID, kind: str, record_id: uuid.UUID
) -> HttpResponse:
    """Mark one entered in error (POST); GET shows the form on a page of its own."""
    chosen = _kind(kind)
    patient = patient_of(caller, patient_id)
    if not caller.has_scopes(frozenset({chosen.write})):
        return refuse(request, object_type=chosen.object_type, patient=patient)
    target = in_clinic(chosen.model._default_manager.all(), caller, pk=record_id, patient=patient)
    form = EnteredInErrorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            record_mark_entered_in_error(record=target, by=caller, reason=form.cleaned_data["reason"])
        except (ServiceValidationError, DjangoValidationError) as exc:
            form_errors_from_service(form, exc)
        else:
            record(
                request,
                action=AccessAction.UPDATE,
                object_type=chosen.object_type,
                object_ids=[target.pk],
                patient_ids=[patient.pk],
            )
            messages.success(request, f"The {chosen.noun} is marked entered in error.")
            return redirect(f"{_patient_url(patient)}#{chosen.slug}")
    return _form_page(request, chosen, patient, form, target=target, marking=True)


def _patient_url(patient: Patient) -> str:
    return reverse("dashboard:patient", kwargs={"patient_id": patient.pk})
