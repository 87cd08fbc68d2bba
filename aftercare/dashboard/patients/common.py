"""What the patient pages share: the patient of the caller's clinic, refusals, service errors."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.exceptions import ValidationError as ServiceValidationError

from aftercare.dashboard.pages import form_errors_from_service, in_clinic, record
from clinic.auth.caller import Caller
from clinic.models import AccessAction, Patient
from clinic.selectors.patients import patient_list

CLINICAL_SCOPES = frozenset({"plans:read", "flags:read"})


def patient_of(caller: Caller, patient_id: Any) -> Patient:
    """The caller's clinic's patient (another clinic's is the 404 page)."""
    patient: Patient = in_clinic(
        patient_list(clinic=caller.clinic).select_related("assigned_clinician"), caller, pk=patient_id
    )
    return patient


def sees_clinical_detail(caller: Caller) -> bool:
    """Plans, flags, notes, medication: not for front desk (who hold neither scope)."""
    return caller.has_scopes(CLINICAL_SCOPES)


def refuse(request: HttpRequest, *, object_type: str, patient: Patient) -> HttpResponse:
    """The 403 page for a write the role may not make (the page itself it may read)."""
    record(
        request,
        action=AccessAction.DENIED,
        object_type=object_type,
        object_ids=[patient.pk],
        patient_ids=[patient.pk],
        status_code=403,
    )
    return render(request, "dashboard/403.html", {}, status=403)


def service_errors(form: forms.Form, exc: DjangoValidationError | ServiceValidationError) -> None:
    """A service's refusal next to the fields it names (services raise Django's ValidationError,
    the API turns it into DRF's; the form takes either)."""
    if isinstance(exc, DjangoValidationError):
        if not hasattr(exc, "error_dict"):
            for message in exc.messages:
                form.add_error(None, message)
            return
        detail = dict(exc.message_dict)
        for message in detail.pop(NON_FIELD_ERRORS, []):
            form.add_error(None, message)
        if not detail:
            return
        exc = ServiceValidationError(detail)
    form_errors_from_service(form, exc)
