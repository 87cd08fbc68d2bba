"""Reminders seen from the patient: one session's reminders that fall due together (a late
booking, a dispatcher that was down, quiet hours pushing two offsets onto one minute) become one
email, the latest offset's; the others are recorded as `skipped`, whichever worker claims them."""

from __future__ import annotations

import datetime
import threading
from collections import Counter
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from aftercare.models import Appointment, GroupMembership, GroupSession, Reminder, ReminderStatus
from aftercare.services.reminder_dispatch import reminders_dispatch
from aftercare.services.reminders import reminders_sync_appointment, reminders_sync_group_session
from clinic.models import Clinic, Role
from tests.aftercare.factories import AppointmentFactory, GroupSessionFactory, SupportGroupFactory
from tests.clinic.test_idempotency_and_upsert import _race
from tests.conftest import Persona
from tests.factories import ClinicFactory, PatientFactory

UTC = datetime.UTC
# A weekday at 15:00 in Chicago: far from quiet hours, so only the offsets decide.
NOW = datetime.datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
MINUTE = datetime.timedelta(minutes=1)
SKIPPED = "skipped"


@pytest.fixture
def clinic(db: None) -> Clinic:
    return ClinicFactory.create(time_zone="America/Chicago")


def book(clinic: Clinic, starts: datetime.datetime, *, now: datetime.datetime = NOW) -> Appointment:
    appointment = AppointmentFactory.create(
        clinic=clinic,
        patient=PatientFactory.create(clinic=clinic),
        starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=50),
    )
    reminders_sync_appointment(appointment=appointment, now=now)
    return appointment


def statuses(**lookup: Any) -> dict[int, str]:
    return dict(Reminder.objects.filter(**lookup).values_list("offset_minutes", "status"))


def test_a_booking_10_minutes_ahead_sends_exactly_one_reminder_email(ehr_a: Persona, make_staff: Any) -> None:
    clinic = ehr_a.clinic
    Clinic.objects.filter(pk=clinic.pk).update(quiet_hours_start=datetime.time(0), quiet_hours_end=datetime.time(0))
    patient = PatientFactory.create(clinic=clinic)
    starts = timezone.now().replace(microsecond=0) + datetime.timedelta(minutes=10)
    response = ehr_a.api.post(
        "/api/v1/appointments/",
        {
            "patient": str(patient.pk),
            "clinician": str(make_staff(clinic, Role.CLINICIAN).user.pk),
            "kind": "individual_therapy",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + datetime.timedelta(minutes=50)).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    result = reminders_dispatch(now=timezone.now() + datetime.timedelta(seconds=1))
    assert result.sent == 1
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [patient.email]
    assert statuses(appointment_id=response.json()["id"]) == {120: ReminderStatus.SENT, 2880: SKIPPED}
    listed = ehr_a.api.get("/api/v1/reminders/", {"status": "skipped"})
    assert listed.status_code == 200
    assert [row["offset_minutes"] for row in listed.json()["results"]] == [2880]


def test_the_published_schema_lists_skipped_among_reminder_statuses(db: None) -> None:
    document = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert SKIPPED in document["components"]["schemas"]["ReminderStatusEnum"]["enum"]


def test_a_booking_10_minutes_ahead_plans_one_reminder_now_and_records_the_other_as_skipped(clinic: Clinic) -> None:
    appointment = book(clinic, NOW + 10 * MINUTE)
    assert statuses(appointment=appointment) == {120: ReminderStatus.PENDING, 2880: SKIPPED}
    with time_machine.travel(NOW, tick=False):
        assert reminders_dispatch().sent == 1
        assert reminders_dispatch().sent == 0
    assert len(mail.outbox) == 1


def test_a_booking_3_hours_ahead_skips_the_48_hour_reminder_and_sends_the_2_hour_one_at_its_time(
    clinic: Clinic,
) -> None:
    starts = NOW + datetime.timedelta(hours=3)
    appointment = book(clinic, starts)
    with time_machine.travel(NOW + MINUTE, tick=False):
        assert reminders_dispatch().sent == 0
    assert mail.outbox == []
    assert statuses(appointment=appointment) == {120: ReminderStatus.PENDING, 2880: SKIPPED}
    with time_machine.travel(starts - datetime.timedelta(hours=2), tick=False):
        assert reminders_dispatch().sent == 1
    assert statuses(appointment=appointment) == {120: ReminderStatus.SENT, 2880: SKIPPED}
    assert len(mail.outbox) == 1


def test_reminders_of_one_session_left_due_together_by_an_outage_send_only_the_latest(clinic: Clinic) -> None:
    starts = NOW + datetime.timedelta(days=3)
    appointment = book(clinic, starts)
    assert statuses(appointment=appointment) == {120: ReminderStatus.PENDING, 2880: ReminderStatus.PENDING}
    # No dispatcher ran from before the 48-hour reminder until after the 2-hour one was due.
    with time_machine.travel(starts - datetime.timedelta(minutes=90), tick=False):
        result = reminders_dispatch()
    assert (result.sent, result.skipped) == (1, 1)
    assert statuses(appointment=appointment) == {120: ReminderStatus.SENT, 2880: SKIPPED}
    assert len(mail.outbox) == 1


def test_a_reminder_still_due_after_a_later_one_of_its_session_went_out_is_skipped(clinic: Clinic) -> None:
    starts = NOW + datetime.timedelta(days=3)
    appointment = book(clinic, starts)
    # The 48-hour reminder is waiting for a retry; the 2-hour one has gone out meanwhile.
    Reminder.objects.filter(appointment=appointment, offset_minutes=120).update(status=ReminderStatus.SENT)
    Reminder.objects.filter(appointment=appointment, offset_minutes=2880).update(
        send_at=starts - datetime.timedelta(minutes=100), attempts=1
    )
    with time_machine.travel(starts - datetime.timedelta(minutes=90), tick=False):
        result = reminders_dispatch()
    assert (result.sent, result.skipped) == (0, 1)
    assert statuses(appointment=appointment)[2880] == SKIPPED
    assert mail.outbox == []


def test_an_earlier_reminder_due_before_the_later_one_is_still_sent(clinic: Clinic) -> None:
    starts = NOW + datetime.timedelta(days=3)
    appointment = book(clinic, starts)
    with time_machine.travel(starts - datetime.timedelta(hours=47), tick=False):
        assert (reminders_dispatch().sent, reminders_dispatch().sent) == (1, 0)
    with time_machine.travel(starts - datetime.timedelta(hours=1), tick=False):
        assert reminders_dispatch().sent == 1
    assert statuses(appointment=appointment) == {120: ReminderStatus.SENT, 2880: ReminderStatus.SENT}
    assert len(mail.outbox) == 2


def test_quiet_hours_that_put_two_offsets_on_one_minute_plan_one_reminder(clinic: Clinic) -> None:
    Clinic.objects.filter(pk=clinic.pk).update(reminder_offsets_minutes=[180, 120])
    clinic.refresh_from_db()
    # A 07:30 session: 04:30 and 05:30 are both quiet, so both would go at 20:59 the evening before.
    starts = datetime.datetime(2026, 11, 27, 13, 30, tzinfo=UTC)
    from aftercare.services.reminders import reminder_plan

    plan = reminder_plan(starts_at=starts, clinic=clinic, now=NOW)
    evening = datetime.datetime(2026, 11, 27, 2, 59, tzinfo=UTC)
    assert [(p.offset_minutes, p.send_at, p.skipped) for p in plan] == [(180, evening, True), (120, evening, False)]


def test_a_group_session_10_minutes_ahead_reminds_each_member_once(clinic: Clinic) -> None:
    session = group_session(clinic, NOW + 10 * MINUTE, members=2)
    with time_machine.travel(NOW, tick=False):
        assert reminders_dispatch().sent == 2
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        session.group.memberships.values_list("patient__email", flat=True)
    )
    assert Counter(Reminder.objects.filter(group_session=session).values_list("offset_minutes", "status")) == {
        (120, ReminderStatus.SENT): 2,
        (2880, SKIPPED): 2,
    }


def test_a_group_sessions_reminders_left_due_together_send_one_per_member(clinic: Clinic) -> None:
    starts = NOW + datetime.timedelta(days=3)
    session = group_session(clinic, starts, members=3)
    with time_machine.travel(starts - datetime.timedelta(minutes=30), tick=False):
        result = reminders_dispatch()
    assert (result.sent, result.skipped) == (3, 3)
    assert len(mail.outbox) == 3
    assert set(
        Reminder.objects.filter(group_session=session, offset_minutes=2880).values_list("status", flat=True)
    ) == {SKIPPED}


def group_session(clinic: Clinic, starts: datetime.datetime, *, members: int) -> GroupSession:
    session = GroupSessionFactory.create(
        group=SupportGroupFactory.create(clinic=clinic), starts_at=starts, ends_at=starts + datetime.timedelta(hours=1)
    )
    for _ in range(members):
        GroupMembership.objects.create(
            group=session.group, patient=PatientFactory.create(clinic=clinic), joined_on=datetime.date(2026, 1, 1)
        )
    reminders_sync_group_session(session=session, now=NOW)
    return session


@pytest.mark.django_db(transaction=True)
def test_dispatchers_racing_one_row_at_a_time_send_one_email_per_session() -> None:
    clinic = ClinicFactory.create(time_zone="UTC", quiet_hours_start=datetime.time(0), quiet_hours_end=datetime.time(0))
    starts = NOW + datetime.timedelta(days=3)
    sessions = [book(clinic, starts + index * MINUTE) for index in range(12)]

    def drain() -> int:
        passes = 0
        # One row a pass, so a session's two rows are as likely as not taken by different workers.
        while reminders_dispatch(batch_size=1).claimed:
            passes += 1
        return passes

    with time_machine.travel(starts - datetime.timedelta(minutes=30), tick=False):
        _race([drain] * 6)
    per_session = Counter(message.to[0] for message in mail.outbox)
    assert sorted(per_session.values()) == [1] * len(sessions)
    assert Counter(Reminder.objects.values_list("offset_minutes", "status")) == {
        (120, ReminderStatus.SENT): 12,
        (2880, SKIPPED): 12,
    }
    connection.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("held", [120, 2880])
def test_a_worker_holding_one_of_a_sessions_due_reminders_never_lets_another_send_the_other(held: int) -> None:
    clinic = ClinicFactory.create(time_zone="UTC", quiet_hours_start=datetime.time(0), quiet_hours_end=datetime.time(0))
    starts = NOW + datetime.timedelta(days=3)
    appointment = book(clinic, starts)
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        # Another worker mid-claim: the row is locked, its claim not yet committed.
        try:
            with transaction.atomic():
                Reminder.objects.select_for_update().get(appointment=appointment, offset_minutes=held)
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    worker = threading.Thread(target=hold)
    worker.start()
    assert locked.wait(timeout=30)
    with time_machine.travel(starts - datetime.timedelta(minutes=30), tick=False):
        first = reminders_dispatch()
        release.set()
        worker.join(timeout=30)
        second = reminders_dispatch()
    # Held the 2-hour row: the 48-hour one is skipped at once, the 2-hour one sent once free.
    # Held the 48-hour row: the 2-hour one is sent, and the 48-hour one, once free, skipped.
    assert (first.sent, first.skipped, second.sent, second.skipped) == ((0, 1, 1, 0) if held == 120 else (1, 0, 0, 1))
    assert statuses(appointment=appointment) == {120: ReminderStatus.SENT, 2880: SKIPPED}
    assert len(mail.outbox) == 1
    connection.close()
