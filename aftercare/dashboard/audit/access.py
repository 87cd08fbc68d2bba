"""Who viewed this patient, and the clinic's access log (with its CSV export): for admins and
auditors. Both pages are themselves in the log: they show who saw which patient."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone

from aftercare.dashboard.audit.forms import (
    LOG_ACTION_WORDS,
    PATIENT_ACTION_WORDS,
    AccessLogFilterForm,
    DateRangeForm,
)
from aftercare.dashboard.pages import in_clinic, record, show, staff_page
from clinic.auth.caller import Caller
from clinic.models import AccessAction, AccessEvent, Patient, Role
from clinic.selectors.access import (
    UNKNOWN_ACTOR,
    Actor,
    access_actor_choices,
    access_actors,
    access_event_list,
    access_event_page,
    access_events_csv,
    access_patient_names,
    access_patients_matching,
)

AUDIT_SCOPES = frozenset({"audit:read"})
AUDIT_ROLES = frozenset({Role.ADMIN, Role.AUDITOR})
PAGE_SIZE = 50
# Patients named in one row of the clinic's log; a list of more says how many.
NAMES_PER_ROW = 3


@dataclass(frozen=True)
class Row:
    event: AccessEvent
    actor: Actor
    what: str
    patients: list[Patient]
    more_patients: int = 0


def _query(request: HttpRequest, **changes: str | None) -> str:
    """The page's query string with `changes` (None drops a parameter)."""
    params = {key: value for key, value in request.GET.items() if value}
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return urlencode(params)


@staff_page(scopes=AUDIT_SCOPES, roles=AUDIT_ROLES, object_type="dashboard.patient_access")
def patient_access(request: HttpRequest, caller: Caller, patient_id: uuid.UUID) -> HttpResponse:
    patient = in_clinic(
        Patient.objects.only("id", "clinic_id", "given_name", "family_name", "external_id"), caller, pk=patient_id
    )
    form = DateRangeForm(request.GET)
    since, until = form.instants(caller.clinic.zone)
    events = access_event_list(clinic=caller.clinic, patient_ids=[patient.pk], since=since, until=until)
    page, next_cursor = access_event_page(events, after=request.GET.get("after", ""), size=PAGE_SIZE)
    actors = access_actors(clinic=caller.clinic, events=page)
    rows = [
        Row(
            event=event,
            actor=actors.get(event.actor, UNKNOWN_ACTOR),
            what=PATIENT_ACTION_WORDS.get(AccessAction(event.action), event.action),
            patients=[],
        )
        for event in page
    ]
    context = {
        "patient": patient,
        "form": form,
        "rows": rows,
        "older": _query(request, after=next_cursor) if next_cursor else None,
        "newest": _query(request, after=None) if request.GET.get("after") else None,
    }
    return show(
        request,
        "dashboard/audit/patient_access.html",
        context,
        object_type="dashboard.patient_access",
        object_ids=[patient.pk],
        patient_ids=[patient.pk],
    )


@dataclass(frozen=True)
class LogQuery:
    form: AccessLogFilterForm
    valid: bool  # whether the filter itself is well formed (a search may still find nobody)
    events: Any  # QuerySet[AccessEvent] (empty when the form is invalid)
    patient_ids: list[Any]  # the patients the filter names


def _log_query(request: HttpRequest, caller: Caller) -> LogQuery:
    form = AccessLogFilterForm(request.GET, actors=access_actor_choices(clinic=caller.clinic))
    if not form.is_valid():
        return LogQuery(form, False, AccessEvent.objects.none(), [])
    data = form.cleaned_data
    patient_ids: list[Any] | None = None
    # A search typed in the box wins over the patient a link named.
    if data.get("patient"):
        patient_ids = access_patients_matching(clinic=caller.clinic, text=data["patient"])
        if not patient_ids:
            form.add_error("patient", "No patient of this clinic has this MRN or name.")
    elif data.get("patient_id"):
        patient_ids = [data["patient_id"]]
    since, until = form.instants(caller.clinic.zone)
    events = access_event_list(
        clinic=caller.clinic,
        patient_ids=patient_ids,
        actor=data.get("who") or None,
        actions=[data["action"]] if data.get("action") else [],
        since=since,
        until=until,
    )
    return LogQuery(form, True, events, patient_ids or [])


@staff_page(scopes=AUDIT_SCOPES, roles=AUDIT_ROLES, object_type="dashboard.access_log")
def access_log(request: HttpRequest, caller: Caller) -> HttpResponse:
    query = _log_query(request, caller)
    page, next_cursor = access_event_page(query.events, after=request.GET.get("after", ""), size=PAGE_SIZE)
    actors = access_actors(clinic=caller.clinic, events=page)
    named = [event.patient_ids[:NAMES_PER_ROW] for event in page]
    patients = access_patient_names(clinic=caller.clinic, patient_ids=[pk for ids in named for pk in ids])
    rows = [
        Row(
            event=event,
            actor=actors.get(event.actor, UNKNOWN_ACTOR),
            what=LOG_ACTION_WORDS.get(AccessAction(event.action), event.action),
            patients=[patients[pk] for pk in ids if pk in patients],
            more_patients=max(0, len(event.patient_ids) - NAMES_PER_ROW),
        )
        for event, ids in zip(page, named, strict=True)
    ]
    filter_patient = None
    if query.valid and query.form.cleaned_data.get("patient_id") and not query.form.cleaned_data.get("patient"):
        filter_patient = access_patient_names(clinic=caller.clinic, patient_ids=query.patient_ids).get(
            query.form.cleaned_data["patient_id"]
        )
    context = {
        "form": query.form,
        "rows": rows,
        "filter_patient": filter_patient,
        "export_query": _query(request, after=None),
        "older": _query(request, after=next_cursor) if next_cursor else None,
        "newest": _query(request, after=None) if request.GET.get("after") else None,
    }
    shown = [patient.pk for row in rows for patient in row.patients]
    if filter_patient is not None:
        shown.append(filter_patient.pk)
    return show(
        request,
        "dashboard/audit/access_log.html",
        context,
        object_type="dashboard.access_log",
        patient_ids=shown,
        action=AccessAction.LIST,
    )


@staff_page(scopes=AUDIT_SCOPES, roles=AUDIT_ROLES, object_type="dashboard.access_log_export")
def access_log_export(request: HttpRequest, caller: Caller) -> HttpResponse:
    """Every event the filter matches, as CSV (oldest first), streamed; the export is an event too.
    A bad filter gets the page with its errors, never a file."""
    query = _log_query(request, caller)
    if query.form.errors:
        return access_log.__wrapped__(request, caller)  # type: ignore[attr-defined,no-any-return]
    # What the log held when the export was asked for (not the export's own event, nor what
    # comes in while the file streams).
    asked_at = timezone.now()
    record(
        request,
        action=AccessAction.EXPORT,
        object_type="dashboard.access_log",
        patient_ids=query.patient_ids,
    )
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    # `staff_page` is typed for HttpResponse; a streamed answer goes through it unchanged.
    return cast(
        HttpResponse,
        StreamingHttpResponse(
            access_events_csv(query.events.filter(at__lt=asked_at), clinic=caller.clinic, names=True),
            content_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="access-log-{stamp}.csv"',
                "Cache-Control": "no-store",
            },
        ),
    )
