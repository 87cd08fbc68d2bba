"""Signing in to the dashboard: username, password and the authenticator code in one form.

The code box takes the six digits of the authenticator app or, instead, one of the recovery codes
(each works once). Everything around it is shared with the rest of the product: django-axes counts
every failure (a wrong code too) and locks the account and the address out, the session timeouts
of `clinic.auth.signin` apply, every sign-in and failure is logged (by user id, never a name), and
a password change ends the member's other sessions (Django's session hash).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST, require_safe
from django_otp import login as otp_login
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from aftercare.dashboard.pages import CLINIC_SESSION_KEY, caller_for, home_url, memberships_of
from clinic.models import User

WRONG = "The username, password or code is not right. Check them and try again."
# Set by the sign-in form when the password was right and the member has no authenticator yet:
# the enrolment page (once built) takes over from there, still signed out.
ENROL_SESSION_KEY = "dashboard_enrol_user"


def _device_for(user: User, code: str) -> Device | None:
    """The device that accepts `code`: six digits are the authenticator's, anything else a
    recovery code. Each device applies its own throttling (django-otp)."""
    code = "".join(code.split())
    if not code:
        return None
    devices: list[Device] = (
        list(TOTPDevice.objects.filter(user=user, confirmed=True))
        if code.isdigit() and len(code) == 6
        else list(StaticDevice.objects.filter(user=user, confirmed=True))
    )
    for device in devices:
        if device.verify_token(code):
            return device
    return None


def has_authenticator(user: User) -> bool:
    return bool(TOTPDevice.objects.filter(user=user, confirmed=True).exists())


class SignInForm(forms.Form):
    username = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autocomplete": "username"}))
    password = forms.CharField(strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
    code = forms.CharField(
        label="Authenticator code",
        required=False,
        max_length=32,
        help_text="The 6 digits your authenticator app shows, or one of your recovery codes.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "spellcheck": "false"}),
    )

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.user: User | None = None
        self.device: Device | None = None
        self.needs_enrolment = False

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        username, password = data.get("username"), data.get("password")
        if not username or not password:
            return data
        user = authenticate(self.request, username=username, password=password)
        if not isinstance(user, User):
            raise forms.ValidationError(WRONG, code="invalid_login")
        if not memberships_of(user):
            raise forms.ValidationError("This account does not work for any clinic.", code="no_clinic")
        self.user = user
        if not has_authenticator(user):
            self.needs_enrolment = True
            return data
        self.device = _device_for(user, data.get("code") or "")
        if self.device is None:
            # A right password with a wrong code is a failed sign-in like any other (django-axes
            # counts it), and the answer does not say which of the three was wrong.
            user_login_failed.send(sender=__name__, credentials={"username": username}, request=self.request)
            raise forms.ValidationError(WRONG, code="invalid_login")
        return data


def _next_url(request: HttpRequest) -> str | None:
    wanted = request.POST.get("next") or request.GET.get("next")
    if wanted and url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()}, require_https=False):
        return wanted
    return None


@sensitive_post_parameters("password", "code")
def sign_in(request: HttpRequest) -> HttpResponse:
    if caller_for(request) is not None:
        return redirect(_next_url(request) or reverse("dashboard:home"))
    form = SignInForm(request, request.POST or None)
    if request.method == "POST" and form.is_valid() and form.user is not None:
        if form.needs_enrolment:
            try:
                enrol = reverse("dashboard:enrol")
            except NoReverseMatch:
                form.add_error(None, "This account has no authenticator yet: ask your clinic's administrator.")
            else:
                request.session.cycle_key()
                request.session[ENROL_SESSION_KEY] = str(form.user.pk)
                return _redirect_keeping_next(enrol, request)
        elif form.device is not None:
            login(request, form.user, backend="django.contrib.auth.backends.ModelBackend")
            otp_login(request, form.device)
            return redirect(_next_url(request) or reverse("dashboard:home"))
    return render(request, "dashboard/sign_in.html", {"form": form, "next": _next_url(request) or ""})


def _redirect_keeping_next(url: str, request: HttpRequest) -> HttpResponseRedirect:
    wanted = _next_url(request)
    if wanted:
        from django.utils.http import urlencode

        url = f"{url}?{urlencode({'next': wanted})}"
    return HttpResponseRedirect(url)


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, "You are signed out.")
    return redirect("dashboard:sign_in")


@require_POST
def switch_clinic(request: HttpRequest) -> HttpResponse:
    """The clinic a member of several acts for, chosen in the header; only one of their own."""
    resolved = caller_for(request)
    if resolved is None:
        return redirect("dashboard:sign_in")
    _caller, memberships = resolved
    wanted = request.POST.get("clinic", "")
    chosen = next((m for m in memberships if str(m.clinic_id) == wanted), None)
    if chosen is None:
        messages.error(request, "You do not work for that clinic.")
    else:
        request.session[CLINIC_SESSION_KEY] = str(chosen.clinic_id)
        messages.info(request, f"You are working in {chosen.clinic.name}.")
    return redirect("dashboard:home")


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """`/`: the sign-in page for a visitor, the role's own start page for staff."""
    resolved = caller_for(request)
    if resolved is None:
        return redirect("dashboard:sign_in")
    caller, memberships = resolved
    target = home_url(caller)
    if target is not None:
        return redirect(target)
    request.caller = caller  # type: ignore[attr-defined]
    request.memberships = memberships  # type: ignore[attr-defined]
    return render(request, "dashboard/home.html", {})
