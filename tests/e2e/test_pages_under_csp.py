"""The pages people open work in a real browser under the Content-Security-Policy: nothing is
blocked, nothing complains in the console, and the API docs render the schema's operations."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings

from aftercare.reminders.unsubscribe import unsubscribe_url
from tests.e2e.conftest import Visit
from tests.factories import PatientFactory


def test_the_api_docs_render_the_schema_under_the_policy(live_server: Any, browser_visit: Visit) -> None:
    response = browser_visit.open(f"{live_server.url}/api/docs/")
    assert response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    operation = browser_visit.page.locator(".opblock-summary-path", has_text="/api/v1/patients/").first
    operation.wait_for(state="visible", timeout=15_000)
    assert browser_visit.page.locator(".opblock").count() > 20
    assert browser_visit.problems() == []


def test_the_admin_sign_in_page_works_under_the_policy(live_server: Any, browser_visit: Visit) -> None:
    response = browser_visit.open(f"{live_server.url}/admin/login/")
    assert response.status == 200
    assert browser_visit.page.locator("input[name=username]").is_visible()
    # The admin's stylesheet applied: its header is not the browser's default (transparent).
    header = browser_visit.page.eval_on_selector("#header", "element => getComputedStyle(element).backgroundColor")
    assert header not in {"", "rgba(0, 0, 0, 0)"}
    assert browser_visit.problems() == []


@pytest.fixture
def unsubscribe_path(transactional_db: None) -> str:
    # Committed for the live server's thread, before the browser starts (see `browser_visit`).
    patient = PatientFactory.create()
    return unsubscribe_url(patient.pk).removeprefix(settings.AFTERCARE_PUBLIC_URL)


def test_the_unsubscribe_page_works_under_the_policy(
    live_server: Any, unsubscribe_path: str, browser_visit: Visit
) -> None:
    response = browser_visit.open(f"{live_server.url}{unsubscribe_path}")
    assert response.status == 200
    assert browser_visit.page.locator("button[type=submit]").is_visible()
    width = browser_visit.page.eval_on_selector("body", "element => getComputedStyle(element).maxWidth")
    assert width != "none", "the page's stylesheet did not apply"
    assert browser_visit.problems() == []
