"""The staff sign-in form: password and authenticator code (or a recovery code)."""

from __future__ import annotations

from typing import Any

from django_otp.admin import OTPAdminAuthenticationForm


class SignInForm(OTPAdminAuthenticationForm):
    """django-otp's admin sign-in form, except that the second step (the password was right, the
    code is missing or wrong) asks for the password again rather than writing it into the page,
    where it would stay in the HTML, the browser's cache and its saved form data."""

    def _update_form(self, user: Any) -> None:
        super()._update_form(user)
        self.fields["password"].widget.render_value = False
