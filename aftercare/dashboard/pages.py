"""What every dashboard page shares.

`staff_page` wraps a view: it sends a signed-out visitor to the sign-in page (and back afterwards),
resolves the staff member and the clinic they act for into a `Caller` (the one the API's services
take), refuses a role without the page's scopes (403 page, `denied` in the access log), turns
another clinic's object into the 404 page (`denied` too), renders in the clinic's time zone, and
attaches the staff member to the change history of every write.

A page that shows patient data says what it showed with `show()` (or `record()` after a write):
the access log gets the same event the API would write. A page that forgets fails loudly rather
than showing records nobody logged.

With a read replica configured, a page's GET reads it until the request writes (clinic.replica).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pghistory
from django import forms
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ImproperlyConfigured
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django_guid import get_guid
from rest_framework.exceptions import ValidationError as ServiceValidationError

from clinic.api.errors import django_validation_error_to_drf
from clinic.auth.caller import Caller
from clinic.auth.scopes import ROLE_SCOPES
from clinic.models import AccessAction, Clinic, Role, StaffMembership, User
from clinic.replica import reads_from_replica
from clinic.services.access import access_record

CLINIC_SESSION_KEY = "dashboard_clinic"


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    scopes: frozenset[str] = frozenset()
    roles: frozenset[str] | None = None  # None: every role holding the scopes

    def allows(self, caller: Caller) -> bool:
        return caller.has_scopes(self.scopes) and (self.roles is None or caller.role in self.roles)


CARE_ROLES = frozenset({Role.ADMIN, Role.CLINICIAN, Role.CASE_MANAGER})

# The header's navigation, in order; an item shows to the roles it allows (and once it is built).
NAV = [
    NavItem("Caseload", "dashboard:caseload", frozenset({"patients:read", "flags:read"}), CARE_ROLES),
    NavItem("Flags", "dashboard:flags", frozenset({"flags:read"})),
    NavItem("Today", "dashboard:today", frozenset({"schedule:read"})),
    NavItem("Groups", "dashboard:groups", frozenset({"schedule:read"})),
    NavItem("Patients", "dashboard:patients", frozenset({"patients:read"})),
    NavItem("Access log", "dashboard:access_log", frozenset({"audit:read"})),
    NavItem("Staff", "dashboard:staff", roles=frozenset({Role.ADMIN})),
    NavItem("Clinic settings", "dashboard:clinic_settings", roles=frozenset({Role.ADMIN})),
]
# Where each role starts after signing in: the first of these that it may open.
HOME: dict[str, list[str]] = {
    Role.ADMIN: ["dashboard:caseload", "dashboard:flags"],
    Role.CLINICIAN: ["dashboard:caseload", "dashboard:flags"],
    Role.CASE_MANAGER: ["dashboard:caseload", "dashboard:flags"],
    Role.FRONT_DESK: ["dashboard:today"],
    Role.AUDITOR: ["dashboard:access_log", "dashboard:flags"],
}


def memberships_of(user: User) -> list[StaffMembership]:
    return list(
        StaffMembership.objects.select_related("clinic")
        .filter(user=user, is_active=True, clinic__is_active=True)
        .order_by("clinic__name")
    )


def _verified(request: HttpRequest) -> bool:
    user = request.user
    is_verified = getattr(user, "is_verified", None)
    return bool(user.is_authenticated and is_verified is not None and is_verified())


def caller_for(request: HttpRequest) -> tuple[Caller, list[StaffMembership]] | None:
    """The staff member signed in (password and second factor) and the clinic they act for: the
    one chosen in the header, else their first. None for anyone else, or without an active
    membership."""
    if not _verified(request) or not isinstance(request.user, User):
        return None
    memberships = memberships_of(request.user)
    if not memberships:
        return None
    chosen = request.session.get(CLINIC_SESSION_KEY)
    membership = next((m for m in memberships if str(m.clinic_id) == chosen), memberships[0])
    caller = Caller(
        clinic=membership.clinic, scopes=ROLE_SCOPES[membership.role], user=request.user, role=membership.role
    )
    return caller, memberships


def nav_for(caller: Caller) -> list[tuple[str, str]]:
    items = []
    for item in NAV:
        if not item.allows(caller):
            continue
        try:
            items.append((item.label, reverse(item.url_name)))
        except NoReverseMatch:  # a page not built in this version
            continue
    return items


def home_url(caller: Caller) -> str | None:
    allowed = {item.url_name for item in NAV if item.allows(caller)}
    for name in HOME.get(caller.role or "", []):
        if name in allowed:
            try:
                return reverse(name)
            except NoReverseMatch:
                continue
    return None


class _Shown:
    """Set on the request once the page's access event is written."""


def _uuid_kwargs(kwargs: dict[str, Any]) -> list[Any]:
    return [value for value in kwargs.values() if isinstance(value, uuid.UUID)]


def record(
    request: HttpRequest,
    *,
    action: AccessAction | str,
    object_type: str,
    object_ids: Iterable[Any] = (),
    patient_ids: Iterable[Any] = (),
    status_code: int = 200,
) -> None:
    """The access event for what this page showed or changed (as the API writes it)."""
    caller: Caller = request.caller  # type: ignore[attr-defined]
    access_record(
        request=request,
        clinic=caller.clinic,
        user=caller.user,
        client=None,
        action=action,
        object_type=object_type,
        object_ids=object_ids,
        patient_ids=patient_ids,
        status_code=status_code,
    )
    request._dashboard_access_recorded = True  # type: ignore[attr-defined]


def show(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    object_type: str,
    object_ids: Iterable[Any] = (),
    patient_ids: Iterable[Any] = (),
    action: AccessAction | str | None = None,
    status: int = 200,
) -> HttpResponse:
    """Render a page of patient data and log what it shows: `view` when it names one object
    (`object_ids` of one), else `list` naming every id shown."""
    object_ids, patient_ids = list(object_ids), list(patient_ids)
    if action is None:
        action = AccessAction.VIEW if len(object_ids) == 1 else AccessAction.LIST
    response = render(request, template, context, status=status)
    record(
        request,
        action=action,
        object_type=object_type,
        object_ids=object_ids,
        patient_ids=patient_ids,
        status_code=status,
    )
    return response


def in_clinic(queryset: QuerySet[Any], caller: Caller, **lookup: Any) -> Any:
    """The object of the caller's clinic that `lookup` names; another clinic's (or none) is the 404
    page, and the attempt is in the access log as `denied`."""
    obj = queryset.filter(clinic=caller.clinic, **lookup).first()
    if obj is None:
        raise Http404
    return obj


def form_errors_from_service(form: forms.Form, exc: ServiceValidationError | DjangoValidationError) -> None:
    """A service's refusal (Django's or DRF's ValidationError, a `Conflict` included) onto the form:
    each message under the field it names when the form has that field, otherwise above the form."""
    detail = django_validation_error_to_drf(exc).detail if isinstance(exc, DjangoValidationError) else exc.detail
    items = detail.items() if isinstance(detail, dict) else [(None, detail)]
    for field, messages in items:
        for text in messages if isinstance(messages, list) else [messages]:
            if field in form.fields:
                form.add_error(field, str(text))
            else:
                form.add_error(None, f"{str(field).replace('_', ' ')}: {text}" if field else str(text))


def staff_page(
    *,
    scopes: Iterable[str] = (),
    roles: Iterable[str] | None = None,
    object_type: str,
    shows_patients: bool = True,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Decorate a dashboard view `view(request, caller, **kwargs)`.

    `object_type` names the page in the access log (`dashboard.<page>`); `shows_patients=False`
    marks a page that holds no patient data (settings, the staff list) and so writes no event when
    it answers 200.
    """
    needed = frozenset(scopes)
    allowed_roles = frozenset(roles) if roles is not None else None

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            resolved = caller_for(request)
            if resolved is None:
                return redirect_to_login(request.get_full_path(), reverse("dashboard:sign_in"))
            caller, memberships = resolved
            request.caller = caller  # type: ignore[attr-defined]
            request.memberships = memberships  # type: ignore[attr-defined]
            with timezone.override(caller.clinic.zone):
                if not caller.has_scopes(needed) or (allowed_roles is not None and caller.role not in allowed_roles):
                    return _refused(request, 403, object_type, kwargs)
                if request.method not in ("GET", "HEAD"):
                    pghistory.context(actor=caller.key, clinic=str(caller.clinic.pk), request_id=get_guid())
                try:
                    response = view(request, caller, *args, **kwargs)
                except Http404:
                    return _refused(request, 404, object_type, kwargs)
                recorded = getattr(request, "_dashboard_access_recorded", False)
                if shows_patients and response.status_code == 200 and not recorded:
                    raise ImproperlyConfigured(
                        f"{view.__qualname__} showed a page of patient data without an access event: use show()."
                    )
            return response

        wrapped.dashboard_object_type = object_type  # type: ignore[attr-defined]
        # Its GETs may read a replica when one is configured (clinic.replica; never a POST's reads).
        return reads_from_replica(wrapped)

    return decorator


def _refused(request: HttpRequest, status: int, object_type: str, kwargs: dict[str, Any]) -> HttpResponse:
    ids = _uuid_kwargs(kwargs)
    record(
        request,
        action=AccessAction.DENIED,
        object_type=object_type,
        object_ids=ids,
        patient_ids=ids if "patient_id" in kwargs else [],
        status_code=status,
    )
    template = "dashboard/404.html" if status == 404 else "dashboard/403.html"
    return render(request, template, {}, status=status)


def clinic_of(request: HttpRequest) -> Clinic:
    caller: Caller = request.caller  # type: ignore[attr-defined]
    return caller.clinic


def dashboard_context(request: HttpRequest) -> dict[str, Any]:
    """Template context processor: the header (who, which clinic, the navigation)."""
    caller: Caller | None = getattr(request, "caller", None)
    if caller is None:
        return {}
    return {
        "caller": caller,
        "staff_name": name_of(caller.user),
        "role_label": Role(caller.role).label if caller.role in Role.values else "",
        "memberships": getattr(request, "memberships", []),
        "nav": [
            (label, url, request.path == url or (url != "/" and request.path.startswith(url)))
            for label, url in nav_for(caller)
        ],
    }


def name_of(user: Model | None) -> str:
    """A person as staff read them: their full name, else their username."""
    if user is None:
        return ""
    full = f"{getattr(user, 'first_name', '')} {getattr(user, 'last_name', '')}".strip()
    return full or str(getattr(user, "username", ""))
