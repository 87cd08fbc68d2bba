"""First sign-in: the member sets up their authenticator on screen, then sees their recovery codes.

The sign-in form (or an accepted invitation) leaves a pending enrolment in an otherwise signed-out
session: whose it is and since when. It is good for this page only, and for
`ENROL_MINUTES`; the member is signed in (password and second factor) only once the authenticator
is confirmed with a code from it.
"""

from __future__ import annotations

import time
from typing import Any

import segno
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_lockout_response
from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django_otp import login as otp_login

from aftercare.dashboard.pages import staff_page
from aftercare.dashboard.signin import ENROL_SESSION_KEY, _next_url, _redirect_keeping_next
from clinic.auth.caller import Caller
from clinic.models import User
from clinic.services.mfa import mfa_enrol_confirm, mfa_enrol_start, mfa_is_enrolled, mfa_secret_text

ENROL_MINUTES = 10
ENROL_STARTED_KEY = "dashboard_enrol_started"
ENROL_DEVICE_KEY = "dashboard_enrol_device"
RECOVERY_CODES_KEY = "dashboard_recovery_codes"
NEXT_KEY = "dashboard_enrol_next"
_PENDING_KEYS = (ENROL_SESSION_KEY, ENROL_STARTED_KEY, ENROL_DEVICE_KEY)


def enrol_pending_begin(request: HttpRequest, user: User) -> None:
    """Hand a signed-out session over to the enrolment page for `user` (a fresh session key)."""
    request.session.cycle_key()
    request.session[ENROL_SESSION_KEY] = str(user.pk)
    request.session[ENROL_STARTED_KEY] = time.time()


def _end_pending(request: HttpRequest) -> None:
    for key in _PENDING_KEYS:
        request.session.pop(key, None)


def _pending_user(request: HttpRequest) -> User | None:
    """The member whose enrolment this session holds, while it has not expired."""
    pk = request.session.get(ENROL_SESSION_KEY)
    if pk is None:
        return None
    started = request.session.setdefault(ENROL_STARTED_KEY, time.time())
    if time.time() - float(started) > ENROL_MINUTES * 60:
        _end_pending(request)
        return None
    user = User.objects.filter(pk=str(pk), is_active=True).first()
    if user is None or not user.has_usable_password():
        _end_pending(request)
        return None
    return user


def qr_data_uri(text: str) -> str:
    """A QR code as an SVG data URI, drawn here (the policy allows `data:` images, nothing else)."""
    return str(segno.make(text, error="m").svg_data_uri(scale=5, border=2, dark="#000", light="#fff"))


class EnrolForm(forms.Form):
    code = forms.CharField(
        label="Code from your app",
        max_length=12,
        help_text="The 6 digits your authenticator app shows for Aftercare now.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"}),
    )


@sensitive_post_parameters("code")
def enrol(request: HttpRequest) -> HttpResponse:
    """`/enrol/`: the QR code and the key as text, and a box to confirm with a code."""
    had_pending = ENROL_SESSION_KEY in request.session
    user = _pending_user(request)
    if user is None:
        if had_pending or request.method == "POST":
            messages.error(request, "Setting up your authenticator took too long. Sign in again to continue.")
        return _redirect_keeping_next(reverse("dashboard:sign_in"), request)
    if mfa_is_enrolled(user=user):  # set up meanwhile (another tab): sign in with it
        _end_pending(request)
        return _redirect_keeping_next(reverse("dashboard:sign_in"), request)
    device = mfa_enrol_start(user=user, device_id=request.session.get(ENROL_DEVICE_KEY))
    request.session[ENROL_DEVICE_KEY] = device.pk
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        credentials = {"username": user.username}
        if AxesProxyHandler.is_locked(request, credentials):
            locked: HttpResponse = get_lockout_response(request, credentials=credentials)
            return locked
        try:
            codes = mfa_enrol_confirm(user=user, device_id=device.pk, code=form.cleaned_data["code"])
        except ValidationError as exc:
            # A wrong code counts towards the lock-out like a wrong code at sign-in.
            user_login_failed.send(sender=__name__, credentials=credentials, request=request)
            form.add_error(None, exc)  # under the field it names
        else:
            wanted = _next_url(request)
            _end_pending(request)
            device.refresh_from_db()
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            otp_login(request, device)
            request.session[RECOVERY_CODES_KEY] = codes
            if wanted:
                request.session[NEXT_KEY] = wanted
            return redirect("dashboard:recovery_codes")
    context: dict[str, Any] = {
        "form": form,
        "qr": qr_data_uri(str(device.config_url)),
        "secret": mfa_secret_text(device),
        "next": _next_url(request) or "",
        "minutes": ENROL_MINUTES,
    }
    return render(request, "dashboard/staff/enrol.html", context)


@staff_page(object_type="dashboard.recovery_codes", shows_patients=False)
def recovery_codes(request: HttpRequest, caller: Caller) -> HttpResponse:
    """The recovery codes, once: taken out of the session as they are shown."""
    codes = request.session.pop(RECOVERY_CODES_KEY, None)
    wanted = request.session.pop(NEXT_KEY, None)
    if not codes:
        return redirect(wanted or "dashboard:home")
    return render(
        request,
        "dashboard/staff/recovery_codes.html",
        {"codes": codes, "continue_url": wanted or reverse("dashboard:home")},
    )
