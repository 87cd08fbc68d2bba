"""The Today board: today's appointments and group sessions in the clinic's time zone, with one
button per attendance mark, check-in, a short undo, and a correction page that asks why."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from aftercare.dashboard.pages import CARE_ROLES, form_errors_from_service, in_clinic, record, show, staff_page
from aftercare.dashboard.today.forms import CorrectionForm, MarkForm
from aftercare.models import CANCELLED_STATUSES, Appointment, AttendanceStatus
from aftercare.selectors.today import appointments_of_day, group_sessions_between, local_day_bounds
from aftercare.services.appointments import (
    appointment_check_in,
    attendance_record,
    attendance_undoable,
    checkin_open,
    may_correct_attendance,
)
from clinic.api.errors import django_validation_error_to_drf
from clinic.auth.caller import Caller
from clinic.models import AccessAction, Role

BOARD_ROLES = (Role.ADMIN, Role.CLINICIAN, Role.CASE_MANAGER, Role.FRONT_DESK, Role.AUDITOR)
WRITE = ("schedule:read", "attendance:write")

# The buttons of a row, in order: (status, label). "No-show" is the `missed` status.
MARKS = [
    (AttendanceStatus.ATTENDED, "Attended"),
    (AttendanceStatus.LATE, "Late"),
    (AttendanceStatus.MISSED, "No-show"),
    (AttendanceStatus.CANCELLED, "Cancelled"),
    (AttendanceStatus.LATE_CANCELLED, "Late-cancelled"),
    (AttendanceStatus.EXCUSED, "Excused"),
]
_OUTCOMES = {AttendanceStatus.ATTENDED, AttendanceStatus.LATE, AttendanceStatus.MISSED, AttendanceStatus.EXCUSED}
# What a status says at a glance without colour.
SYMBOLS: dict[str, str] = {
    AttendanceStatus.SCHEDULED: "○",
    AttendanceStatus.ATTENDED: "✓",
    AttendanceStatus.LATE: "◔",
    AttendanceStatus.MISSED: "✗",
    AttendanceStatus.CANCELLED: "⊘",
    AttendanceStatus.LATE_CANCELLED: "⊘",
    AttendanceStatus.CANCELLED_BY_CLINIC: "⊘",
    AttendanceStatus.EXCUSED: "E",
}


@dataclass
class Row:
    """One appointment as the board shows it to this caller."""

    appointment: Appointment
    status_label: str
    symbol: str
    kind: str  # empty for front desk: the kind of session is clinical detail
    can_arrive: bool = False
    marks: list[tuple[str, str]] = field(default_factory=list)
    undo_to: str | None = None
    can_change: bool = False


def _clinical(caller: Caller) -> bool:
    return caller.role in CARE_ROLES


def _rows(appointments: list[Appointment], caller: Caller, now: datetime.datetime) -> list[Row]:
    writes = caller.has_scopes(frozenset(WRITE))
    rows = []
    for appointment in appointments:
        status = appointment.attendance_status
        row = Row(
            appointment=appointment,
            status_label=AttendanceStatus(status).label,
            symbol=SYMBOLS.get(status, ""),
            kind=appointment.get_kind_display() if _clinical(caller) else "",
        )
        if writes and status == AttendanceStatus.SCHEDULED:
            row.can_arrive = checkin_open(appointment, clinic=caller.clinic, now=now)
            started = appointment.starts_at <= now
            row.marks = [
                (value, label)
                for value, label in MARKS
                if (started or value not in _OUTCOMES)
                and (
                    value != AttendanceStatus.LATE_CANCELLED
                    or appointment.starts_at - now <= datetime.timedelta(days=1)
                )
            ]
        elif writes:
            if attendance_undoable(appointment, by=caller, now=now):
                row.undo_to = getattr(appointment, "undo_to", None) or AttendanceStatus.SCHEDULED
                row.can_change = True
            else:
                row.can_change = may_correct_attendance(caller)
        rows.append(row)
    return rows


def _who(request: HttpRequest, caller: Caller) -> str:
    who = request.GET.get("who") or request.POST.get("who")
    if who in ("mine", "all"):
        return who
    return "mine" if caller.role == Role.CLINICIAN else "all"


def _board_url(who: str, appointment: Appointment | None = None) -> str:
    url = f"{reverse('dashboard:today')}?who={who}"
    return f"{url}#appointment-{appointment.pk}" if appointment is not None else url


@staff_page(scopes=("schedule:read",), roles=BOARD_ROLES, object_type="dashboard.today")
def today(request: HttpRequest, caller: Caller) -> HttpResponse:
    now = timezone.now()
    who = _who(request, caller)
    start, end = local_day_bounds(caller.clinic, now)
    appointments = list(
        appointments_of_day(
            clinic=caller.clinic, start=start, end=end, clinician=caller.user if who == "mine" else None
        )
    )
    sessions = list(group_sessions_between(clinic=caller.clinic, start=start, end=end))
    context: dict[str, Any] = {
        "rows": _rows(appointments, caller, now),
        "sessions": sessions,
        "who": who,
        "day": start,
        "clinical": _clinical(caller),
        "writes": caller.has_scopes(frozenset(WRITE)),
        "undo_minutes": _undo_minutes(),
    }
    return show(
        request,
        "dashboard/today/board.html",
        context,
        object_type="appointment",
        object_ids=[a.pk for a in appointments],
        patient_ids=list(dict.fromkeys(a.patient_id for a in appointments)),
        action=AccessAction.LIST,
    )


def _undo_minutes() -> int:
    from aftercare.services.appointments import undo_window

    return max(1, int(undo_window().total_seconds() // 60))


def _patient_name(appointment: Appointment) -> str:
    return f"{appointment.patient.given_name} {appointment.patient.family_name}"


def _appointment(caller: Caller, appointment_id: uuid.UUID) -> Appointment:
    queryset = Appointment.objects.select_related("patient", "clinician", "attendance_recorded_by")
    appointment: Appointment = in_clinic(queryset, caller, pk=appointment_id)
    return appointment


def _recorded(request: HttpRequest, appointment: Appointment) -> None:
    """The access event of a mark, an arrival or a correction on the appointment."""
    record(
        request,
        action=AccessAction.UPDATE,
        object_type="appointment",
        object_ids=[appointment.pk],
        patient_ids=[appointment.patient_id],
    )


def _service_error(exc: DjangoValidationError) -> str:
    detail = django_validation_error_to_drf(exc).detail
    parts = []
    for messages_ in detail.values() if isinstance(detail, dict) else [detail]:
        parts += [str(m) for m in (messages_ if isinstance(messages_, list) else [messages_])]
    return " ".join(parts)


@require_POST
@staff_page(scopes=WRITE, roles=BOARD_ROLES, object_type="appointment")
def appointment_mark(request: HttpRequest, caller: Caller, appointment_id: uuid.UUID) -> HttpResponse:
    """A row's button: record that status. Within the undo window the maker may change it; a
    change after that goes to the correction page, which asks why."""
    appointment = _appointment(caller, appointment_id)
    form = MarkForm(request.POST)
    who = _who(request, caller)
    if not form.is_valid():
        messages.error(request, "That mark is not one the board offers.")
        return HttpResponseRedirect(_board_url(who, appointment))
    status = form.cleaned_data["status"]
    try:
        attendance_record(appointment=appointment, status=status, by=caller, reason=form.cleaned_data["reason"])
    except PermissionDenied:
        record(
            request, action=AccessAction.DENIED, object_type="appointment", object_ids=[appointment.pk], status_code=403
        )
        return render(request, "dashboard/403.html", {}, status=403)
    except DjangoValidationError as exc:
        if "reason" in getattr(exc, "message_dict", {}):
            url = reverse("dashboard:appointment_correct", kwargs={"appointment_id": appointment.pk})
            return HttpResponseRedirect(f"{url}?status={status}&who={who}")
        messages.error(request, f"{_patient_name(appointment)}: {_service_error(exc)}")
        return HttpResponseRedirect(_board_url(who, appointment))
    _recorded(request, appointment)
    messages.success(request, f"{_patient_name(appointment)}: {AttendanceStatus(status).label.lower()}.")
    return HttpResponseRedirect(_board_url(who, appointment))


@require_POST
@staff_page(scopes=WRITE, roles=BOARD_ROLES, object_type="appointment")
def appointment_arrive(request: HttpRequest, caller: Caller, appointment_id: uuid.UUID) -> HttpResponse:
    appointment = _appointment(caller, appointment_id)
    who = _who(request, caller)
    try:
        appointment_check_in(appointment=appointment, by=caller)
    except DjangoValidationError as exc:
        messages.error(request, f"{_patient_name(appointment)}: {_service_error(exc)}")
        return HttpResponseRedirect(_board_url(who, appointment))
    _recorded(request, appointment)
    messages.success(request, f"{_patient_name(appointment)}: arrived.")
    return HttpResponseRedirect(_board_url(who, appointment))


@staff_page(scopes=WRITE, roles=BOARD_ROLES, object_type="appointment")
def appointment_correct(request: HttpRequest, caller: Caller, appointment_id: uuid.UUID) -> HttpResponse:
    """Change a recorded mark: a reason is asked for (and a clinical role needed) unless the
    staff member who made it is still inside the undo window."""
    appointment = _appointment(caller, appointment_id)
    now = timezone.now()
    undoable = attendance_undoable(appointment, by=caller, now=now)
    if appointment.attendance_status != AttendanceStatus.SCHEDULED and not (undoable or may_correct_attendance(caller)):
        record(
            request, action=AccessAction.DENIED, object_type="appointment", object_ids=[appointment.pk], status_code=403
        )
        return render(request, "dashboard/403.html", {}, status=403)
    who = _who(request, caller)
    if request.method == "POST":
        form = CorrectionForm(request.POST)
        if form.is_valid():
            try:
                attendance_record(
                    appointment=appointment,
                    status=form.cleaned_data["status"],
                    by=caller,
                    reason=form.cleaned_data["reason"],
                )
            except PermissionDenied:
                form.add_error(None, "Only clinical staff may correct recorded attendance.")
            except DjangoValidationError as exc:
                form_errors_from_service(form, django_validation_error_to_drf(exc))
            else:
                _recorded(request, appointment)
                label = AttendanceStatus(form.cleaned_data["status"]).label.lower()
                messages.success(request, f"{_patient_name(appointment)}: changed to {label}.")
                return HttpResponseRedirect(_board_url(form.cleaned_data.get("who") or who, appointment))
    else:
        status = request.GET.get("status")
        form = CorrectionForm(initial={"status": status if status in AttendanceStatus.values else None, "who": who})
    context = {
        "appointment": appointment,
        "form": form,
        "who": who,
        "clinical": _clinical(caller),
        "status_label": AttendanceStatus(appointment.attendance_status).label,
        "undoable": undoable,
        "cancelled": appointment.attendance_status in CANCELLED_STATUSES,
    }
    return show(
        request,
        "dashboard/today/correct.html",
        context,
        object_type="appointment",
        object_ids=[appointment.pk],
        patient_ids=[appointment.patient_id],
    )
