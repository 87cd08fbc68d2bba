"""Support groups and a session's roster: every expected member preset to attended, the
exceptions chosen per row, one Save for the whole session."""

from __future__ import annotations

import re
import uuid

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from aftercare.dashboard.pages import CARE_ROLES, record, show, staff_page
from aftercare.dashboard.today.forms import RosterForm
from aftercare.dashboard.today.views import BOARD_ROLES, WRITE
from aftercare.models import GroupSession
from aftercare.selectors.today import group_session_roster, support_groups_with_sessions
from aftercare.services.groups import group_session_attendance_record
from clinic.api.errors import django_validation_error_to_drf
from clinic.auth.caller import Caller
from clinic.models import AccessAction

_ENTRY_FIELD = re.compile(r"^attendance\.(\d+)\.(\w+)$")


@staff_page(scopes=("schedule:read",), roles=BOARD_ROLES, object_type="dashboard.groups", shows_patients=False)
def groups(request: HttpRequest, caller: Caller) -> HttpResponse:
    now = timezone.now()
    support_groups = list(support_groups_with_sessions(clinic=caller.clinic, now=now))
    for group in support_groups:
        group.upcoming = [s for s in group.window_sessions if s.starts_at >= now]  # type: ignore[attr-defined]
        group.recent = [s for s in group.window_sessions if s.starts_at < now][::-1]  # type: ignore[attr-defined]
    return render(
        request,
        "dashboard/today/groups.html",
        {"groups": support_groups, "clinical": caller.role in CARE_ROLES},
    )


def _session(caller: Caller, session_id: uuid.UUID) -> GroupSession:
    # A session belongs to the clinic through its group: another clinic's is the 404 page.
    session = (
        GroupSession.objects.select_related("group__clinic").filter(group__clinic=caller.clinic, pk=session_id).first()
    )
    if session is None:
        raise Http404
    return session


@staff_page(scopes=("schedule:read",), roles=BOARD_ROLES, object_type="group_session")
def group_session(request: HttpRequest, caller: Caller, session_id: uuid.UUID) -> HttpResponse:
    session = _session(caller, session_id)
    now = timezone.now()
    writes = caller.has_scopes(frozenset(WRITE))
    open_for_marks = writes and not session.cancelled and session.starts_at <= now
    rows = group_session_roster(session=session)
    if request.method == "POST":
        if not open_for_marks:
            record(
                request,
                action=AccessAction.DENIED,
                object_type="group_session",
                object_ids=[session.pk],
                status_code=403,
            )
            return render(request, "dashboard/403.html", {}, status=403)
        form = RosterForm(rows, request.POST)
        if form.is_valid():
            try:
                group_session_attendance_record(session=session, entries=form.entries(), by=caller)
            except PermissionDenied:
                form.add_error(None, "Only clinical staff may change a recorded mark; ask a clinician.")
            except DjangoValidationError as exc:
                _errors_onto(form, exc)
            else:
                record(
                    request,
                    action=AccessAction.UPDATE,
                    object_type="group_session",
                    object_ids=[session.pk],
                    patient_ids=[row.patient.pk for row in rows],
                )
                messages.success(request, f"Attendance saved for {len(rows)} members.")
                return HttpResponseRedirect(reverse("dashboard:group_session", kwargs={"session_id": session.pk}))
    else:
        form = RosterForm(rows)
    context = {
        "session": session,
        "group": session.group,
        "form": form,
        "rows": form.bound_rows(),
        "open_for_marks": open_for_marks,
        "writes": writes,
        "started": session.starts_at <= now,
        "clinical": caller.role in CARE_ROLES,
        "corrects": caller.role in CARE_ROLES,
    }
    return show(
        request,
        "dashboard/today/roster.html",
        context,
        object_type="group_session",
        object_ids=[session.pk],
        patient_ids=[row.patient.pk for row in rows],
        action=AccessAction.VIEW,
    )


def _errors_onto(form: RosterForm, exc: DjangoValidationError) -> None:
    """The service names entries by position (`attendance.3.reason`): put each on its row."""
    detail = django_validation_error_to_drf(exc).detail
    items = detail.items() if isinstance(detail, dict) else [("", detail)]
    for name, texts in items:
        text = " ".join(str(t) for t in (texts if isinstance(texts, list) else [texts]))
        match = _ENTRY_FIELD.match(str(name))
        if match and int(match.group(1)) < len(form.rows):
            row = form.rows[int(match.group(1))]
            target = form.reason_name(row) if match.group(2) == "reason" else form.status_name(row)
            form.add_error(target if target in form.fields else None, text)
        else:
            form.add_error(None, text)
