"""Recording an attempt to reach a patient (the outreach log)."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from aftercare.models import OutreachAttempt, RiskFlag
from clinic.auth.caller import Caller
from clinic.models import Patient

NOTE_MAX_LENGTH = 4000


@transaction.atomic
def outreach_record(
    *,
    patient: Patient,
    flag: RiskFlag | None = None,
    by: Caller,
    channel: str,
    outcome: str,
    note: str = "",
    follow_up_on: datetime.date | None = None,
    attempted_at: datetime.datetime | None = None,
    now: datetime.datetime | None = None,
) -> OutreachAttempt:
    """One attempt, by the caller (a staff member or an integration client), at `attempted_at`
    (default now; never in the future). A flag named must be of the same patient, and a follow-up
    date is on or after the day of the attempt (clinic calendar)."""
    now = now or timezone.now()
    attempted_at = attempted_at or now
    errors: dict[str, str] = {}
    if patient.clinic_id != by.clinic.pk:
        # The API and the dashboard only offer the caller's own patients: this is the last guard.
        errors["patient"] = "Not a patient of this clinic."
    if flag is not None and flag.patient_id != patient.pk:
        errors["flag"] = "This flag is about another patient."
    if attempted_at > now:
        errors["attempted_at"] = "An attempt cannot be in the future."
    if follow_up_on is not None and follow_up_on < attempted_at.astimezone(by.clinic.zone).date():
        errors["follow_up_on"] = "The follow-up date cannot be before the day of the attempt."
    if len(note) > NOTE_MAX_LENGTH:
        errors["note"] = f"At most {NOTE_MAX_LENGTH} characters."
    if errors:
        raise ValidationError(errors)
    attempt = OutreachAttempt(
        clinic=by.clinic,
        patient=patient,
        flag=flag,
        channel=channel,
        outcome=outcome,
        note=note.strip(),
        follow_up_on=follow_up_on,
        attempted_at=attempted_at,
        by=by.user if by.client is None else None,
        by_client=by.client,
    )
    try:
        attempt.full_clean(exclude=["clinic", "patient", "flag", "by", "by_client"], validate_constraints=False)
    except DjangoValidationError as exc:  # a bad channel or outcome, named as the API names fields
        raise ValidationError(exc.message_dict) from exc
    attempt.save(force_insert=True)
    return attempt
