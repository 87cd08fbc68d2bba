"""The flag queue (`/flags/`), a flag's page (`/flags/<id>/`) with acknowledge, resolve and
dismiss, and the outreach log's form (`/patients/<id>/outreach/`)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError as ServiceValidationError

from aftercare.dashboard.flags.forms import AcknowledgeForm, CloseForm, FlagFilterForm, OutreachForm
from aftercare.dashboard.pages import form_errors_from_service, in_clinic, record, show, staff_page
from aftercare.models import FlagEventKind, RiskFlag
from aftercare.risk.wording import flag_reason, flag_stage
from aftercare.selectors.flags import flag_detail, flag_evidence_lines, flag_history, flag_queue
from aftercare.selectors.outreach import last_attempts, outreach_for
from aftercare.services.flags import flag_transition
from aftercare.services.outreach import outreach_record
from clinic.auth.caller import Caller
from clinic.models import AccessAction, Patient

PAGE_SIZE = 50
READ = ("flags:read",)
WRITE = ("flags:read", "flags:write")


def _row(flag: RiskFlag, attempts: dict[Any, Any]) -> dict[str, Any]:
    return {
        "flag": flag,
        "reason": flag_reason(flag.rule, flag.evidence),
        "last": attempts.get(getattr(flag, "last_attempt_id", None)),
    }


@staff_page(scopes=READ, object_type="dashboard.flags")
def flag_list(request: HttpRequest, caller: Caller) -> HttpResponse:
    form = FlagFilterForm(request.GET or None)
    filters = form.filters()
    now = timezone.now()
    flags = flag_queue(
        clinic=caller.clinic,
        now=now,
        assigned_to=caller.user if filters["mine"] else None,
        severity=filters["severity"],
        rule=filters["rule"],
        statuses=filters["statuses"],
        age=filters["age"],
    )
    page = Paginator(flags, PAGE_SIZE).get_page(request.GET.get("page"))
    shown = list(page.object_list)
    attempts = last_attempts([getattr(flag, "last_attempt_id", None) for flag in shown], today=timezone.localdate())
    kept = request.GET.copy()
    kept.pop("page", None)
    return show(
        request,
        "dashboard/flags/list.html",
        {
            "form": form,
            "page": page,
            "rows": [_row(flag, attempts) for flag in shown],
            "query": kept.urlencode(),
        },
        object_type="dashboard.flags",
        object_ids=[flag.pk for flag in shown],
        patient_ids=[flag.patient_id for flag in shown],
        action=AccessAction.LIST,
    )


def _flag_or_404(caller: Caller, flag_id: Any) -> RiskFlag:
    flag = flag_detail(clinic=caller.clinic, flag_id=flag_id)
    if flag is None:
        raise Http404  # another clinic's flag, or none: the 404 page, `denied` in the access log
    return flag


def _flag_page(
    request: HttpRequest,
    caller: Caller,
    flag: RiskFlag,
    *,
    ack_form: AcknowledgeForm | None = None,
    close_form: CloseForm | None = None,
) -> HttpResponse:
    zone = caller.clinic.zone
    today = timezone.localdate()
    attempts = list(outreach_for(clinic=caller.clinic, patient_id=flag.patient_id))
    last = last_attempts([getattr(flag, "last_attempt_id", None)], today=today)
    context = {
        "flag": flag,
        "patient": flag.patient,
        "reason": flag_reason(flag.rule, flag.evidence),
        "stage": flag_stage(flag.rule),
        "evidence": flag_evidence_lines([flag], zone=zone)[flag.pk],
        "history": list(flag_history(flag=flag)),
        "attempts": attempts,
        "last": last.get(getattr(flag, "last_attempt_id", None)),
        "can_write": caller.has_scopes(frozenset(WRITE)),
        "can_outreach": caller.has_scopes(frozenset({"outreach:write"})),
        "can_read_outreach": caller.has_scopes(frozenset({"outreach:read"})),
        "is_active": flag.status in ("open", "acknowledged"),
        "ack_form": ack_form or AcknowledgeForm(),
        "close_form": close_form or CloseForm(),
        "next": request.path,
    }
    return show(
        request,
        "dashboard/flags/detail.html",
        context,
        object_type="dashboard.flag",
        object_ids=[flag.pk],
        patient_ids=[flag.patient_id],
        action=AccessAction.VIEW,
    )


@staff_page(scopes=READ, object_type="dashboard.flag")
def flag_page(request: HttpRequest, caller: Caller, flag_id: Any) -> HttpResponse:
    return _flag_page(request, caller, _flag_or_404(caller, flag_id))


def _transition(request: HttpRequest, caller: Caller, flag: RiskFlag, kind: FlagEventKind, note: str) -> None:
    flag_transition(flag=flag, kind=kind, by=caller, note=note)
    record(
        request,
        action=AccessAction.UPDATE,
        object_type="dashboard.flag",
        object_ids=[flag.pk],
        patient_ids=[flag.patient_id],
    )


@staff_page(scopes=WRITE, object_type="dashboard.flag")
@require_POST
def flag_acknowledge(request: HttpRequest, caller: Caller, flag_id: Any) -> HttpResponse:
    flag = _flag_or_404(caller, flag_id)
    form = AcknowledgeForm(request.POST)
    if form.is_valid():
        try:
            _transition(request, caller, flag, FlagEventKind.ACKNOWLEDGED, form.cleaned_data["note"])
        except (ServiceValidationError, DjangoValidationError) as exc:
            form_errors_from_service(form, exc)
        else:
            messages.success(request, "Flag acknowledged.")
            return HttpResponseRedirect(reverse("dashboard:flag", kwargs={"flag_id": flag.pk}))
    return _flag_page(request, caller, flag, ack_form=form)


@staff_page(scopes=WRITE, object_type="dashboard.flag")
@require_POST
def flag_close(request: HttpRequest, caller: Caller, flag_id: Any) -> HttpResponse:
    """Resolve or dismiss (the button pressed says which); a note is required either way."""
    flag = _flag_or_404(caller, flag_id)
    form = CloseForm(request.POST)
    kind = {"resolve": FlagEventKind.RESOLVED, "dismiss": FlagEventKind.DISMISSED}.get(request.POST.get("action", ""))
    if kind is None:
        form.add_error(None, "Choose Resolve or Dismiss.")
    elif form.is_valid():
        try:
            _transition(request, caller, flag, kind, form.cleaned_data["note"])
        except (ServiceValidationError, DjangoValidationError) as exc:
            form_errors_from_service(form, exc)
        else:
            messages.success(request, f"Flag {kind}.")
            return HttpResponseRedirect(reverse("dashboard:flag", kwargs={"flag_id": flag.pk}))
    return _flag_page(request, caller, flag, close_form=form)


def _back(request: HttpRequest, wanted: str, patient: Patient, flag: RiskFlag | None) -> str:
    """Where to go after logging an attempt: the page it was logged from (same site only), else the
    flag's page, else the patient's (or the queue while the patient page does not exist)."""
    if wanted and url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()}, require_https=False):
        return wanted
    if flag is not None:
        return reverse("dashboard:flag", kwargs={"flag_id": flag.pk})
    try:
        return reverse("dashboard:patient", kwargs={"patient_id": patient.pk})
    except NoReverseMatch:
        return reverse("dashboard:flags")


@staff_page(scopes=("outreach:write",), object_type="dashboard.patient_outreach")
def patient_outreach(request: HttpRequest, caller: Caller, patient_id: Any) -> HttpResponse:
    """Log an attempt to reach the patient (linked to one of their flags when the form names it).
    GET shows the form on a page of its own; a refused POST shows it again with the errors."""
    patient = in_clinic(Patient.objects.all(), caller, pk=patient_id)
    form = OutreachForm(
        request.POST or None, initial={"flag": request.GET.get("flag"), "next": request.GET.get("next")}
    )
    flag: RiskFlag | None = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if data["flag"] is not None:
            flag = RiskFlag.objects.filter(clinic=caller.clinic, pk=data["flag"]).first()
            if flag is None or flag.patient_id != patient.pk:
                form.add_error(None, "That flag is not one of this patient's.")
        if not form.errors:
            try:
                attempt = outreach_record(
                    patient=patient,
                    flag=flag,
                    by=caller,
                    channel=data["channel"],
                    outcome=data["outcome"],
                    note=data["note"],
                    follow_up_on=data["follow_up_on"],
                    attempted_at=data["attempted_at"],
                )
            except (ServiceValidationError, DjangoValidationError) as exc:
                form_errors_from_service(form, exc)
            else:
                record(
                    request,
                    action=AccessAction.CREATE,
                    object_type="dashboard.patient_outreach",
                    object_ids=[attempt.pk],
                    patient_ids=[patient.pk],
                )
                messages.success(request, "Outreach attempt logged.")
                return HttpResponseRedirect(_back(request, data["next"], patient, flag))
    return show(
        request,
        "dashboard/flags/outreach.html",
        {"form": form, "patient": patient},
        object_type="dashboard.patient_outreach",
        object_ids=[patient.pk],
        patient_ids=[patient.pk],
        action=AccessAction.VIEW,
    )
