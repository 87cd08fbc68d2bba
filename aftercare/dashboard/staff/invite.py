"""`/invite/<uidb64>/<token>/`: the invitee chooses a password, then sets up their authenticator."""

from __future__ import annotations

from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from aftercare.dashboard.staff.enrol import enrol_pending_begin
from aftercare.services.staff import invite_accept, invite_user


@require_http_methods(["GET", "HEAD", "POST"])
@sensitive_post_parameters("new_password1", "new_password2")
def invite(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    user = invite_user(uidb64=uidb64, token=token)
    if user is None:
        return render(request, "dashboard/staff/invite_invalid.html", {}, status=404)
    form = SetPasswordForm(user, request.POST or None)
    form.fields["new_password1"].label = "Choose a password"
    form.fields["new_password2"].label = "The same password again"
    if request.method == "POST" and form.is_valid():
        try:
            accepted = invite_accept(uidb64=uidb64, token=token, password=form.cleaned_data["new_password1"])
        except ValidationError as exc:
            if not hasattr(exc, "error_dict"):  # used meanwhile (another tab)
                return render(request, "dashboard/staff/invite_invalid.html", {}, status=404)
            form.add_error(None, exc)
        else:
            enrol_pending_begin(request, accepted)
            return redirect("dashboard:enrol")
    return render(request, "dashboard/staff/invite.html", {"form": form, "member": user})
