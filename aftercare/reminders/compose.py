"""A reminder row becomes an email: what the message may say, taken from the session and clinic."""

from __future__ import annotations

from typing import Any

from django.core.mail import EmailMultiAlternatives

from aftercare.models import Reminder, ReminderKind
from aftercare.reminders.email import ReminderContent, missed_session_message, reminder_message
from aftercare.reminders.unsubscribe import unsubscribe_url


def content_for(reminder: Reminder) -> ReminderContent:
    clinic = reminder.clinic
    session: Any = reminder.appointment or reminder.group_session
    location = session.location or (session.group.location if reminder.group_session_id else "")
    return ReminderContent(
        clinic_name=clinic.public_name,
        clinic_phone=clinic.phone,
        recipient=reminder.patient.email,
        language=reminder.patient.preferred_language,
        starts_at=session.starts_at,
        ends_at=session.ends_at,
        time_zone=clinic.time_zone,
        location=location,
        telehealth_url=getattr(session, "telehealth_url", ""),
        unsubscribe_url=unsubscribe_url(reminder.patient_id),
        uid=str(session.pk),  # a UUID is unique on its own, and says nothing about the clinic
        sender_name=clinic.reminder_sender_name or clinic.public_name,
    )


def compose(reminder: Reminder, *, connection: Any = None) -> EmailMultiAlternatives:
    content = content_for(reminder)
    if reminder.kind == ReminderKind.MISSED_SESSION:
        return missed_session_message(content, connection=connection)
    return reminder_message(content, connection=connection)
