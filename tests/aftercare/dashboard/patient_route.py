"""A URL configuration with `dashboard:patient` for pages that link to the patient page: the real
route when this version has it, else a stand-in at the same address, so a link's target is tested
either way. Use it with `settings.ROOT_URLCONF = "tests.aftercare.dashboard.patient_route"`."""

from __future__ import annotations

import uuid
from typing import cast

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, include, path

from aftercare.dashboard import urls as dashboard
from clinic import urls as product


def _names(patterns: list[URLPattern | URLResolver]) -> set[str]:
    found: set[str] = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found |= _names(pattern.url_patterns)
        elif pattern.name:
            found.add(pattern.name)
    return found


def patient_stand_in(request: HttpRequest, patient_id: uuid.UUID) -> HttpResponse:
    return HttpResponse(
        '<!DOCTYPE html><html lang="en"><head><title>Patient</title></head>'
        "<body><main><h1>Patient</h1></main></body></html>"
    )


_dashboard = list(cast(list[URLPattern | URLResolver], dashboard.urlpatterns))
if "patient" not in _names(_dashboard):
    _dashboard.append(path("patients/<uuid:patient_id>/", patient_stand_in, name="patient"))

urlpatterns = [
    *[p for p in product.urlpatterns if getattr(p, "namespace", None) != "dashboard"],
    path("", include((_dashboard, "dashboard"), namespace="dashboard")),
]
