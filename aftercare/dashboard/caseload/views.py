"""My caseload (a clinician's patients, most at risk first) and the clinic's patient list.

Both are plain GET forms over a selector, fifty rows a page, and log every patient they show.

Who may look at whose caseload: every role the caseload is for (admin, clinician, case manager)
opens their own by default and may switch to a colleague's or to the whole clinic, as the API's
`dashboard/caseload/?clinician=` allows them; a colleague is chosen from the clinic's care staff
only, so naming anyone else (another clinic's clinician) is an error on the form, never their list.

The caseload pages by cursor, with the API's own keyset (`clinic.api.pagination`, the one
definition of how a position in the selector's order is written and read back): a page costs the
same queries and the same ranking whether it is the first or the hundredth and however large the
caseload, and no page counts the whole caseload.

The patient list stays on Django's paginator: its search reads the patient table alone (no join,
no aggregate), so its count and its offset cost at worst a scan of the matching patients, which
staff narrow by name, MRN or date of birth rather than walk; and it says how many matched.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from aftercare.dashboard.caseload.forms import WHOLE_CLINIC, CaseloadFilterForm, PatientSearchForm
from aftercare.dashboard.pages import CARE_ROLES, name_of, show, staff_page
from aftercare.selectors.caseload import caseload_list, caseload_rows, hashed_ranking
from clinic.api.pagination import Key, SelectorOrderPagination
from clinic.auth.caller import Caller
from clinic.models import AccessAction, Patient
from clinic.selectors.patient_search import patient_search
from clinic.selectors.patients import care_staff_list

PAGE_SIZE = 50


def _keep_filters(request: HttpRequest, *drop: str) -> str:
    """The query string of the current filters, for the page links."""
    params = request.GET.copy()
    for name in ("page", *drop):
        params.pop(name, None)
    return params.urlencode()


class CaseloadPages(SelectorOrderPagination):
    """The API's keyset cursor in the caseload's risk order, fifty rows a page whatever the link
    says. A cursor that does not read back (edited, or from another order) starts again from the
    first page, as the access log's does, and says so (`invalid_cursor`)."""

    page_size = PAGE_SIZE
    invalid_cursor = False

    def get_page_size(self, request: Request) -> int:
        return self.page_size

    def decode_cursor(
        self, request: Request, keys: list[Key], queryset: QuerySet[Any]
    ) -> tuple[list[Any], bool] | None:
        try:
            return super().decode_cursor(request, keys, queryset)
        except ValidationError:
            self.invalid_cursor = True
            return None

    def links(self) -> dict[str, str | None]:
        """The page's links as query strings (`?…`): the filters and the cursor, nothing of the host."""

        def relative(link: str | None) -> str | None:
            return None if link is None else "?" + urlsplit(link).query

        return {"next": relative(self.get_next_link()), "previous": relative(self.get_previous_link())}


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
    pages = CaseloadPages()
    with hashed_ranking():
        page: list[Patient] = pages.paginate_queryset(patients, Request(request)) or []
    rows = caseload_rows(page, clinic=caller.clinic)
    shown = [row.patient.pk for row in rows]
    links = pages.links()
    context = {
        "form": form,
        "heading": heading,
        "rows": rows,
        "next": links["next"],
        "previous": links["previous"],
        # Back to the top of the list (a cursor that did not read back is there already).
        "first": f"?{_keep_filters(request, 'cursor')}" if links["previous"] else None,
        "invalid_cursor": pages.invalid_cursor,
        "filters": _keep_filters(request, "cursor"),
    }
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
