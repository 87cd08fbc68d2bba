"""The 07:00 digest: each clinician's own numbers, once a day, no patient named."""

from __future__ import annotations

import datetime
import zoneinfo

import time_machine
from django.core import mail

from aftercare.models import DigestSent
from aftercare.services.digests import digests_send
from clinic.models import Role
from tests.aftercare.factories import AppointmentFactory
from tests.factories import ClinicFactory, MembershipFactory, PatientFactory

CHICAGO = zoneinfo.ZoneInfo("America/Chicago")


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=CHICAGO)


def test_each_clinician_gets_their_own_counts_at_seven_once(db: None) -> None:
    clinic = ClinicFactory.create(time_zone="America/Chicago")
    mine = MembershipFactory.create(clinic=clinic, role=Role.CLINICIAN).user
    other = MembershipFactory.create(clinic=clinic, role=Role.CLINICIAN).user
    MembershipFactory.create(clinic=clinic, role=Role.FRONT_DESK)
    patient = PatientFactory.create(clinic=clinic, assigned_clinician=mine, given_name="Zebulon", family_name="Quaxley")
    PatientFactory.create(clinic=clinic, assigned_clinician=other)
    for hour in (9, 11):
        AppointmentFactory.create(
            clinic=clinic,
            patient=patient,
            clinician=mine,
            starts_at=at(f"2026-11-24 {hour:02d}:00"),
            ends_at=at(f"2026-11-24 {hour:02d}:50"),
        )
    AppointmentFactory.create(
        clinic=clinic,
        patient=patient,
        clinician=mine,
        starts_at=at("2026-11-23 15:00"),
        ends_at=at("2026-11-23 15:50"),
        attendance_status="missed",
    )

    with time_machine.travel(at("2026-11-24 06:50"), tick=False):
        assert digests_send() == 0
    with time_machine.travel(at("2026-11-24 07:05"), tick=False):
        assert digests_send() == 2
        assert digests_send() == 0
    with time_machine.travel(at("2026-11-24 07:55"), tick=False):
        assert digests_send() == 0
    assert DigestSent.objects.count() == 2
    by_recipient = {message.to[0]: message for message in mail.outbox}
    assert set(by_recipient) == {mine.email, other.email}
    body = by_recipient[mine.email].body
    assert "Sessions on your schedule today: 2" in body
    assert "Missed yesterday among your patients: 1" in body
    assert "Active patients in your caseload: 1" in body
    assert "Sessions on your schedule today: 0" in by_recipient[other.email].body
    for message in mail.outbox:
        text = f"{message.subject} {message.body} {getattr(message, 'alternatives', '')}"
        assert "Zebulon" not in text
        assert "Quaxley" not in text
        assert patient.email not in text
