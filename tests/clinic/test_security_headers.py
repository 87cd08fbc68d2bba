"""Every response carries the browser protections: HSTS (over HTTPS), no MIME sniffing, no
referrer beyond the site, no framing. CSP is still to come (issue 6)."""

from __future__ import annotations

import pytest
from django.test import Client


@pytest.mark.parametrize("path", ["/health/", "/api/v1/patients/", "/admin/login/", "/api/docs/"])
def test_every_response_carries_the_browser_protections(db: None, path: str) -> None:
    response = Client().get(path, secure=True)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] in {"same-origin", "no-referrer", "strict-origin-when-cross-origin"}
    assert response["Strict-Transport-Security"].startswith("max-age=")
