"""Every response carries the browser protections: HSTS (over HTTPS), no MIME sniffing, no
referrer beyond the site, no framing, and a Content-Security-Policy: pages load only this site's
files and run no inline script; anything that is not a page loads nothing."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from aftercare.reminders.unsubscribe import unsubscribe_url
from tests.conftest import Persona
from tests.factories import PatientFactory

PAGE_DIRECTIVES = {
    "default-src": {"'self'"},
    "object-src": {"'none'"},
    "base-uri": {"'none'"},
    "frame-ancestors": {"'none'"},
    "form-action": {"'self'"},
}
NOTHING = {"default-src": {"'none'"}, "frame-ancestors": {"'none'"}}


def policy(response: Any) -> dict[str, set[str]]:
    directives: dict[str, set[str]] = {}
    for directive in response["Content-Security-Policy"].split(";"):
        name, *sources = directive.split()
        assert name not in directives, f"{name} given twice"
        directives[name] = set(sources)
    return directives


def assert_page_policy(response: Any) -> None:
    directives = policy(response)
    for name, sources in PAGE_DIRECTIVES.items():
        assert directives.get(name) == sources, (name, directives)
    for name in ("script-src", "style-src", "default-src"):
        assert not directives.get(name, set()) & {"'unsafe-inline'", "'unsafe-eval'", "*", "data:"}, name


class _Inline(HTMLParser):
    """What a strict policy would refuse: inline scripts, styles and event handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style>")
        self.found += [f"{tag} {name}=" for name in names if name == "style" or name.startswith("on")]
        self.found += [f"{tag} {name}=javascript:" for name, value in attrs if (value or "").startswith("javascript:")]


def inline_code(response: Any) -> list[str]:
    parser = _Inline()
    parser.feed(response.content.decode())
    return parser.found


@pytest.mark.parametrize("path", ["/health/", "/api/v1/patients/", "/admin/login/", "/api/docs/"])
def test_every_response_carries_the_browser_protections(db: None, path: str) -> None:
    response = Client().get(path, secure=True)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] in {"same-origin", "no-referrer", "strict-origin-when-cross-origin"}
    assert response["Strict-Transport-Security"].startswith("max-age=")
    assert response["Content-Security-Policy"]


@pytest.mark.parametrize("path", ["/admin/login/", "/api/docs/", "/no-such-page/"])
def test_pages_load_only_this_sites_files_and_run_no_inline_script(db: None, path: str) -> None:
    response = Client().get(path)
    assert response["Content-Type"].startswith("text/html")
    assert_page_policy(response)
    assert inline_code(response) == []


def test_the_unsubscribe_page_is_a_page_under_the_policy(db: None) -> None:
    patient = PatientFactory.create()
    response = Client().get(unsubscribe_url(patient.pk).removeprefix(settings.AFTERCARE_PUBLIC_URL))
    assert response.status_code == 200
    assert_page_policy(response)
    assert inline_code(response) == []


def test_the_docs_init_script_is_a_file_of_its_own(db: None) -> None:
    page = Client().get("/api/docs/").content.decode()
    sources = re.findall(r'<script src="([^"]+)"', page)
    init = [source for source in sources if source.startswith("/api/docs/?")]
    assert len(init) == 1, sources
    script = Client().get(init[0])
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle(" in script.content


@pytest.mark.parametrize(
    ("who", "path", "status"),
    [
        ("client", "/api/v1/patients/", 200),
        ("anonymous", "/api/v1/patients/", 401),
        ("anonymous", "/api/v1/no-such-resource/", 404),
        ("anonymous", "/api/schema/", 200),
        ("anonymous", "/health/", 200),
        ("anonymous", "/o/token/", 401),
    ],
)
def test_responses_that_are_not_pages_load_nothing(ehr_a: Persona, who: str, path: str, status: int) -> None:
    response: Any
    if who == "client":
        response = ehr_a.api.get(path)
    elif path == "/o/token/":
        response = Client().post(path, {"grant_type": "client_credentials"})
    else:
        response = Client().get(path)
    assert response.status_code == status
    assert not response["Content-Type"].startswith("text/html")
    assert policy(response) == NOTHING


def assert_no_store(response: Any) -> None:
    directives = {part.strip().split("=")[0] for part in response.get("Cache-Control", "").split(",")}
    assert {"no-store", "private"} <= directives, (response.status_code, response.get("Cache-Control"))


def test_responses_with_patient_data_are_never_stored_by_a_browser_or_a_proxy(ehr_a: Persona, clinic_a: Any) -> None:
    """API and admin answers had no Cache-Control: a shared computer's browser cache, or a caching
    proxy, could keep a patient's record after the session ended."""
    from django.test import Client

    from clinic.models import Role
    from tests.factories import MembershipFactory, UserFactory, verified_login

    patient = PatientFactory.create(clinic=clinic_a)
    listing = ehr_a.api.get("/api/v1/patients/")
    detail = ehr_a.api.get(f"/api/v1/patients/{patient.pk}/")
    assert (listing.status_code, detail.status_code) == (200, 200)
    assert_no_store(listing)
    assert_no_store(detail)
    assert_no_store(ehr_a.api.get("/api/v1/patients/00000000-0000-0000-0000-000000000000/"))

    user = UserFactory.create(is_staff=True)
    MembershipFactory.create(user=user, clinic=clinic_a, role=Role.ADMIN)
    browser = Client()
    verified_login(browser, user)
    for path in ("/admin/", "/admin/clinic/patient/", f"/admin/clinic/patient/{patient.pk}/change/"):
        page = browser.get(path)
        assert page.status_code == 200, path
        assert_no_store(page)
    for path in ("/api/schema/", "/api/docs/", "/admin/login/"):
        response = Client().get(path)
        assert response.status_code == 200, path
        assert_no_store(response)
