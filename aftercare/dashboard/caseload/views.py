"""My caseload (a clinician's patients, most at risk first) and the clinic's patient list.

Both are plain GET forms over a selector, fifty rows a page, and log every patient they show.

Who may look at whose caseload: every role the caseload is for (admin, clinician, case manager)
opens their own by default and may switch to a colleague's or to the whole clinic, as the API's
`dashboard/caseload/?clinician=` allows them; a colleague is chosen from the clinic's care staff
only, so naming anyone else (another clinic's clinician) is an error on the form, never their list.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse

from aftercare.dashboard.caseload.forms import WHOLE_CLINIC, CaseloadFilterForm, PatientSearchForm
from aftercare.dashboard.pages import CARE_ROLES, name_of, show, staff_page
from aftercare.selectors.caseload import caseload_list, caseload_rows
from clinic.auth.caller import Caller
from clinic.models import AccessAction
from clinic.selectors.patient_search import patient_search
from clinic.selectors.patients import care_staff_list

PAGE_SIZE = 50


def _keep_filters(request: HttpRequest) -> str:
    """The query string of the current filters, for the page links."""
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


@staff_page(scopes=("patients:read", "flags:read"), roles=CARE_ROLES, object_type="dashboard.caseload")
def caseload(request: HttpRequest, caller: Caller) -> HttpResponse:
    me = caller.user
    if me is None:  # a dashboard page is always a staff member's
        raise Http404
    staff = list(care_staff_list(clinic=caller.clinic).order_by("last_name", "first_name", "username"))
    form = CaseloadFilterForm(request.GET, staff=staff, me=me)
    form.is_valid()  # a field in error falls back to its default; its message shows next to it
    chosen: dict[str, Any] = form.cleaned_data
    whose = chosen.get("whose") or ""
    if whose == WHOLE_CLINIC:
        clinician, heading = None, "Whole clinic"
    elif whose:
        clinician = uuid.UUID(whose)
        heading = f"Caseload of {next(name_of(user) for user in staff if user.pk == clinician)}"
    else:
        clinician, heading = me.pk, "My caseload"
    patients = caseload_list(
        clinic=caller.clinic, clinician=clinician, search=chosen.get("q") or "", risk=chosen.get("risk") or None
    )
    page = Paginator(patients, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = caseload_rows(page.object_list, clinic=caller.clinic)
    shown = [row.patient.pk for row in rows]
    context = {"form": form, "heading": heading, "rows": rows, "page": page, "filters": _keep_filters(request)}
    return show(
        request, "dashboard/caseload/caseload.html", context, object_type="dashboard.caseload",
        object_ids=shown, patient_ids=shown, action=AccessAction.LIST,
    )  # fmt: skip


@staff_page(scopes=("patients:read",), object_type="dashboard.patients")
def patients(request: HttpRequest, caller: Caller) -> HttpResponse:
    form = PatientSearchForm(request.GET)
    form.is_valid()
    chosen: dict[str, Any] = form.cleaned_data
    found = patient_search(
        clinic=caller.clinic,
        text=chosen.get("q") or "",
        date_of_birth=chosen.get("born"),
        status=chosen.get("status") or None,
    )
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    shown_patients = list(page.object_list)
    shown = [patient.pk for patient in shown_patients]
    context = {"form": form, "patients": shown_patients, "page": page, "filters": _keep_filters(request)}
    return show(
        request, "dashboard/caseload/patients.html", context, object_type="dashboard.patients",
        object_ids=shown, patient_ids=shown, action=AccessAction.LIST,
    )  # fmt: skip
