"""What a disclosure releases, category by category.

`clinic` provides the categories whose data it holds (demographics, enrollment). The apps that
hold the others register a provider for each at start-up (`AppConfig.ready()`), so `clinic` never
imports them. A provider gets the patient and every category being released, and returns JSON-ready
data in which nothing can be traced to a category not released: an item that also belongs to another
category (a medication visit is attendance and medication; a risk flag is drawn from the records its
rule reads) goes only when every category it belongs to is released. The provider counts what it
left out for that reason; the disclosure keeps the counts for the clinic, the recipient never sees them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from clinic.models import DisclosureCategory, Patient


@dataclass(frozen=True)
class Released:
    """One category's data, and how many of its items were left out because they touch a category
    the release does not name."""

    data: Any
    withheld: int = 0


@dataclass(frozen=True)
class ReleaseContent:
    data: dict[str, Any]
    # Per released category, the items left out (only categories that left something out).
    withheld: dict[str, int] = field(default_factory=dict)


Provider = Callable[[Patient, frozenset[str]], Released]

# The API scopes a caller must hold to release a category: a release is also a read of every
# record the category holds (enrollment holds care transitions; medication, MAT events).
CATEGORY_READ_SCOPES: dict[str, tuple[str, ...]] = {
    DisclosureCategory.DEMOGRAPHICS: ("patients:read",),
    DisclosureCategory.ENROLLMENT: ("patients:read", "transitions:read"),
    DisclosureCategory.ATTENDANCE: ("schedule:read",),
    DisclosureCategory.PLAN: ("plans:read",),
    DisclosureCategory.MEDICATION: ("plans:read", "medication:read"),
    DisclosureCategory.RISK_FLAGS: ("flags:read",),
    DisclosureCategory.DRUG_SCREENS: ("screens:read",),
    DisclosureCategory.CHECK_INS: ("checkins:read",),
}


def _demographics(patient: Patient, categories: frozenset[str]) -> Released:
    return Released(
        {
            "external_id": patient.external_id,
            "given_name": patient.given_name,
            "family_name": patient.family_name,
            "date_of_birth": patient.date_of_birth.isoformat(),
            "email": patient.email,
            "phone": patient.phone,
            "preferred_language": patient.preferred_language,
        }
    )


def _enrollment(patient: Patient, categories: frozenset[str]) -> Released:
    return Released(
        {
            "status": patient.status,
            "intake_date": patient.intake_date.isoformat(),
            "discharge_date": patient.discharge_date.isoformat() if patient.discharge_date else None,
        }
    )


_providers: dict[str, Provider] = {
    DisclosureCategory.DEMOGRAPHICS: _demographics,
    DisclosureCategory.ENROLLMENT: _enrollment,
}


# Parts an app adds to a category whose data `clinic` provides (care transitions in enrollment),
# by category and key: the part's data goes under that key of the category's data.
_parts: dict[str, dict[str, Provider]] = {}


def release_part_register(category: str, key: str, provider: Provider) -> None:
    """Add `key` to the data of a category `clinic` provides (a dict), from an app's own records."""
    if category not in DisclosureCategory.values:
        raise ImproperlyConfigured(f"{category!r} is not a disclosure category.")
    current = _parts.setdefault(category, {}).get(key)
    if current is not None and current is not provider:
        raise ImproperlyConfigured(f"The part {key!r} of {category!r} already has a provider.")
    _parts[category][key] = provider


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


def release_data(*, patient: Patient, categories: Collection[str]) -> ReleaseContent:
    """The patient's data in exactly these categories, keyed by category, and what was left out."""
    released = frozenset(categories)
    data: dict[str, Any] = {}
    withheld: dict[str, int] = {}
    for category in sorted(released):
        part = _providers[category](patient, released)
        data[category], left_out = part.data, part.withheld
        for key, provider in sorted(_parts.get(category, {}).items()):
            extra = provider(patient, released)
            data[category] = {**data[category], key: extra.data}
            left_out += extra.withheld
        if left_out:
            withheld[category] = left_out
    return ReleaseContent(data=data, withheld=withheld)
