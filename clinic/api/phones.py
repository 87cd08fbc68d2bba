"""Phone numbers as the API takes them: digits and the usual punctuation (`+`, `-`, `(`, `)`, `.`,
spaces), with at least a few digits. Each rule is one regular expression, so the validator and the
published schema (its `pattern`) cannot say different things."""

from __future__ import annotations

from django.core.validators import RegexValidator

PHONE_MESSAGE = "Enter a phone number: digits, spaces, +, -, (, ) and '.' only."


def phone_validator(*, min_digits: int) -> RegexValidator:
    # A field that may be blank takes "" before any validator runs (DRF), and says so in the schema.
    return RegexValidator(rf"^(?:[-+ ().]*[0-9]){{{min_digits}}}[-+0-9 ().]*\Z", PHONE_MESSAGE)


# A patient's own number, which reminders may use: a full number (or none: the field may be blank).
PATIENT_PHONE = phone_validator(min_digits=7)
# A number in a plan (emergency contact, support person, sponsor): a short crisis line counts.
CONTACT_PHONE = phone_validator(min_digits=3)
