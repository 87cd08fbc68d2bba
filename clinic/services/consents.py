"""Consents to disclose and releases under them (42 CFR Part 2 §2.31, §2.32)."""

from __future__ import annotations

import datetime
import hashlib
import json
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clinic.auth.caller import Caller
from clinic.models import ALL_CATEGORIES, REDISCLOSURE_NOTICE, Consent, Disclosure, DisclosureCategory, Patient
from clinic.releases import release_data, release_unavailable


@dataclass(frozen=True)
class Release:
    """What goes to the recipient: the data and the notice that must travel with it."""

    disclosure: Disclosure
    data: dict[str, Any]
    notice: str = REDISCLOSURE_NOTICE


def _same_recipient(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _unknown(categories: Collection[str]) -> list[str]:
    return sorted(set(categories) - set(DisclosureCategory.values))


def _check_patient(patient: Patient, by: Caller) -> None:
    if patient.clinic_id != by.clinic.pk:
        raise ValidationError({"patient": "Not a patient of this clinic."})


@transaction.atomic
def consent_record(
    *,
    patient: Patient,
    by: Caller,
    recipient_name: str,
    purpose: str,
    categories: Collection[str],
    signed_on: datetime.date,
    expires_on: datetime.date | None = None,
    expiry_event: str = "",
    recipient_kind: str | None = None,
    now: datetime.datetime | None = None,
) -> Consent:
    """Record a consent the patient signed. `categories` may be `["all"]`: it is stored as every
    category there is today, and such a consent needs an expiry date (an event alone is not enough).
    `signed_on` and `expires_on` are days of the clinic's calendar; the consent holds through
    `expires_on`."""
    _check_patient(patient, by)
    now = now or timezone.now()
    today = timezone.localdate(now, timezone=by.clinic.zone)
    errors: dict[str, str] = {}
    everything = ALL_CATEGORIES in categories
    stored = sorted(DisclosureCategory.values) if everything else sorted(set(categories))
    unknown = _unknown(set(categories) - {ALL_CATEGORIES})
    if unknown:
        errors["categories"] = f"Unknown categories: {', '.join(unknown)}."
    elif not stored:
        errors["categories"] = "Name at least one category."
    expiry_event = expiry_event.strip()
    if expires_on is None and not expiry_event:
        errors["expires_on"] = "Give the date the consent expires, or the event on which it does (expiry_event)."
    elif expires_on is None and everything:
        errors["expires_on"] = "A consent to release every category needs an expiry date."
    elif expires_on is not None and expires_on < today:
        errors["expires_on"] = "Must not be in the past."
    elif expires_on is not None and expires_on < signed_on:
        errors["expires_on"] = "Must not be before signed_on."
    if signed_on > today:
        errors["signed_on"] = "Must not be in the future."
    elif signed_on < patient.date_of_birth:
        errors["signed_on"] = "Must not be before the patient's date of birth."
    if errors:
        raise ValidationError(errors)
    consent = Consent(
        clinic=by.clinic,
        patient=patient,
        recipient_name=recipient_name.strip(),
        recipient_kind=recipient_kind or None,  # not given: null, never an empty string
        purpose=purpose.strip(),
        categories=stored,
        expires_on=expires_on,
        expiry_event=expiry_event,
        signed_on=signed_on,
        recorded_by=by.key,
        recorded_at=now,
    )
    consent.full_clean(exclude=["clinic", "patient"], validate_constraints=False)
    consent.save(force_insert=True)
    return consent


@transaction.atomic
def consent_revoke(*, consent: Consent, by: Caller, reason: str, now: datetime.datetime | None = None) -> Consent:
    """Revoke a consent from now on (what was disclosed before stays disclosed). Revoking a revoked
    consent changes nothing: the first revocation stands."""
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why the consent is revoked."})
    locked = Consent.objects.select_for_update().get(pk=consent.pk)
    if locked.revoked_at is not None:
        return locked
    locked.revoked_at = now or timezone.now()
    locked.revoked_by = by.key
    locked.revocation_reason = reason
    locked.save(update_fields=["revoked_at", "revoked_by", "revocation_reason", "updated_at"])
    return locked


def _content_sha256(data: dict[str, Any]) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@transaction.atomic
def disclosure_release(
    *,
    patient: Patient,
    consent_id: uuid.UUID | str,
    by: Caller,
    recipient_name: str,
    categories: Collection[str],
    now: datetime.datetime | None = None,
) -> Release:
    """Release the patient's records in `categories` to the recipient, under the consent.

    The consent row stays locked until the disclosure is recorded, so a revocation that arrives
    meanwhile waits and applies to the next release, never half-way through this one. Any refusal
    writes nothing.
    """
    _check_patient(patient, by)
    now = now or timezone.now()
    consent = Consent.objects.select_for_update().filter(pk=consent_id, clinic=by.clinic, patient=patient).first()
    if consent is None:
        raise ValidationError({"consent": "This patient has no consent with this id."})
    if consent.revoked_at is not None:
        raise ValidationError({"consent": f"This consent was revoked on {consent.revoked_at:%Y-%m-%d}."})
    if consent.is_expired(timezone.localdate(now, timezone=by.clinic.zone)):
        raise ValidationError({"consent": "This consent has expired."})
    errors: dict[str, str] = {}
    if not _same_recipient(recipient_name, consent.recipient_name):
        errors["recipient_name"] = "The consent names another recipient."
    requested = sorted(set(categories))
    unknown = _unknown(requested)
    outside = sorted(set(requested) - set(consent.categories) - set(unknown))
    unavailable = release_unavailable(set(requested) - set(unknown))
    if not requested:
        errors["categories"] = "Name at least one category."
    elif unknown:
        errors["categories"] = f"Unknown categories: {', '.join(unknown)}."
    elif outside:
        errors["categories"] = f"Not covered by the consent: {', '.join(outside)}."
    elif unavailable:
        errors["categories"] = f"No data source is installed for: {', '.join(unavailable)}."
    if errors:
        raise ValidationError(errors)
    content = release_data(patient=patient, categories=requested)
    disclosure = Disclosure.objects.create(
        clinic=by.clinic,
        patient=patient,
        consent=consent,
        recipient_name=consent.recipient_name,
        purpose=consent.purpose,
        categories=requested,
        released_by=by.key,
        released_at=now,
        notice=REDISCLOSURE_NOTICE,
        content_sha256=_content_sha256(content.data),
        withheld=content.withheld,
    )
    return Release(disclosure=disclosure, data=content.data)
