"""Every link in an email points at AFTERCARE_PUBLIC_URL, whatever host the request that set the
email off named: a forged Host header must not put a stranger's address in a patient's inbox."""

from __future__ import annotations

import datetime
import re
from email.message import Message
from typing import Any

from django.core import mail
from django.utils import timezone

from aftercare.models import Reminder, ReminderKind
from aftercare.services.reminder_dispatch import reminders_dispatch
from clinic.models import Role
from tests.aftercare.factories import AppointmentFactory
from tests.aftercare.test_flags_api import missed_twice
from tests.conftest import Persona
from tests.factories import PatientFactory

PUBLIC = "https://reminders.example.org"
FORGED = "evil.example"
URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s\"'<>]+", re.IGNORECASE)


def test_a_request_with_a_forged_host_sets_off_emails_that_link_only_to_the_public_address(
    ehr_a: Persona, make_staff: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # A host check that lets any name through (a wildcard, a proxy passing Host on) is the worst case.
    settings.ALLOWED_HOSTS = ["*"]
    settings.USE_X_FORWARDED_HOST = True
    settings.AFTERCARE_PUBLIC_URL = PUBLIC
    clinic = ehr_a.clinic
    clinic.missed_session_message = True
    clinic.save()
    clinician = make_staff(clinic, Role.CLINICIAN).user
    clinician.email = "dr.ruiz@clinic.example.org"
    clinician.save()
    patient = PatientFactory.create(
        clinic=clinic, assigned_clinician=clinician, intake_date=timezone.localdate() - datetime.timedelta(days=10)
    )
    missed_twice(patient)
    third = AppointmentFactory.create(
        patient=patient, clinic=clinic, starts_at=timezone.now() - datetime.timedelta(hours=5)
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = ehr_a.api.post(
            f"/api/v1/appointments/{third.pk}/attendance/",
            {"status": "missed"},
            HTTP_HOST=FORGED,
            HTTP_X_FORWARDED_HOST=FORGED,
        )
    assert response.status_code == 200, response.content
    # The third miss in a row: the clinician is told of a high flag; the patient is sent a
    # "we missed you" message.
    reminder = Reminder.objects.get(appointment=third, kind=ReminderKind.MISSED_SESSION)
    assert reminders_dispatch(now=reminder.send_at).sent == 1
    assert sorted(message.to[0] for message in mail.outbox) == sorted([clinician.email, patient.email])

    for message in mail.outbox:
        text = readable(message.message())
        links = URL.findall(text)
        assert links, "the email carries a link (so the check below looks at something)"
        assert FORGED not in text
        for link in links:
            assert link.startswith(f"{PUBLIC}/"), link


def readable(mime: Message) -> str:
    """Headers and every part decoded (text, HTML, the .ics), as a mail program reads them."""
    texts = [f"{name}: {value}" for name, value in mime.items()]
    for part in mime.walk():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            texts.append(payload.decode(part.get_content_charset() or "utf-8"))
    return "\n".join(texts)
