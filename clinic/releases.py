"""What a disclosure releases, category by category.

`clinic` provides the categories whose data it holds (demographics, enrollment). The apps that
hold the others register a provider for each at start-up (`AppConfig.ready()`), so `clinic` never
imports them. A provider gets the patient and every category being released (so it can leave out
what belongs to a category that is not), and returns JSON-ready data.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from clinic.models import DisclosureCategory, Patient

Provider = Callable[[Patient, frozenset[str]], Any]

# The API scope a caller must hold to release a category: a release is also a read.
CATEGORY_READ_SCOPES: dict[str, str] = {
    DisclosureCategory.DEMOGRAPHICS: "patients:read",
    DisclosureCategory.ENROLLMENT: "patients:read",
    DisclosureCategory.ATTENDANCE: "schedule:read",
    DisclosureCategory.PLAN: "plans:read",
    DisclosureCategory.MEDICATION: "plans:read",
    DisclosureCategory.RISK_FLAGS: "flags:read",
}


def _demographics(patient: Patient, categories: frozenset[str]) -> dict[str, Any]:
    return {
        "external_id": patient.external_id,
        "given_name": patient.given_name,
        "family_name": patient.family_name,
        "date_of_birth": patient.date_of_birth.isoformat(),
        "email": patient.email,
        "phone": patient.phone,
        "preferred_language": patient.preferred_language,
    }


def _enrollment(patient: Patient, categories: frozenset[str]) -> dict[str, Any]:
    return {
        "status": patient.status,
        "intake_date": patient.intake_date.isoformat(),
        "discharge_date": patient.discharge_date.isoformat() if patient.discharge_date else None,
    }


_providers: dict[str, Provider] = {
    DisclosureCategory.DEMOGRAPHICS: _demographics,
    DisclosureCategory.ENROLLMENT: _enrollment,
}


def release_provider_register(category: str, provider: Provider) -> None:
    if category not in DisclosureCategory.values:
        raise ImproperlyConfigured(f"{category!r} is not a disclosure category.")
    current = _providers.get(category)
    if current is not None and current is not provider:
        raise ImproperlyConfigured(f"The disclosure category {category!r} already has a provider.")
    _providers[category] = provider


def release_unavailable(categories: Collection[str]) -> list[str]:
    """The categories no installed app provides data for."""
    return sorted(set(categories) - set(_providers))


def release_data(*, patient: Patient, categories: Collection[str]) -> dict[str, Any]:
    """The patient's data in exactly these categories, keyed by category."""
    released = frozenset(categories)
    return {category: _providers[category](patient, released) for category in sorted(released)}
