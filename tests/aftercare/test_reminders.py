"""Reminder timing (DST, quiet hours), their rows following the sessions, and dispatch."""

from __future__ import annotations

import datetime
import smtplib
import zoneinfo
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aftercare.models import Appointment, AttendanceStatus, Reminder, ReminderStatus
from aftercare.services.reminder_dispatch import reminders_dispatch, reminders_dispatch_all, reminders_recover_stuck
from aftercare.services.reminders import reminder_send_at, reminders_sync_appointment
from clinic.models import Clinic
from tests.aftercare.factories import AppointmentFactory
from tests.clinic.test_idempotency_and_upsert import _race
from tests.factories import ClinicFactory, PatientFactory

CHICAGO = zoneinfo.ZoneInfo("America/Chicago")
UTC = datetime.UTC


def at(text: str, zone: zoneinfo.ZoneInfo = CHICAGO) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=zone)


@pytest.fixture
def chicago(db: None) -> Clinic:
    return ClinicFactory.create(time_zone="America/Chicago", phone="+1 312-555-0100")


def test_a_0900_session_the_day_after_dst_starts_gets_its_reminders_at_the_right_instants(chicago: Clinic) -> None:
    starts = at("2027-03-15 09:00")  # DST began Sunday 14 March 2027
    assert starts.astimezone(UTC) == datetime.datetime(2027, 3, 15, 14, 0, tzinfo=UTC)
    now = at("2027-03-01 12:00")
    two_days = reminder_send_at(starts_at=starts, offset_minutes=48 * 60, clinic=chicago, now=now)
    # 48 elapsed hours before: Saturday 08:00 CST (the wall clock moved an hour since), allowed.
    assert two_days == datetime.datetime(2027, 3, 13, 14, 0, tzinfo=UTC)
    two_hours = reminder_send_at(starts_at=starts, offset_minutes=120, clinic=chicago, now=now)
    # 07:00 CDT is inside quiet hours (21:00 to 08:00): the evening before, at 20:59 CDT.
    assert two_hours == datetime.datetime(2027, 3, 15, 1, 59, tzinfo=UTC)
    assert two_hours.astimezone(CHICAGO).time() == datetime.time(20, 59)


def test_a_0830_session_with_a_2_hour_offset_goes_out_before_quiet_hours_began(chicago: Clinic) -> None:
    starts = at("2026-11-24 08:30")
    send_at = reminder_send_at(starts_at=starts, offset_minutes=120, clinic=chicago, now=at("2026-11-20 12:00"))
    assert send_at is not None
    local = send_at.astimezone(CHICAGO)
    assert (local.date(), local.time()) == (datetime.date(2026, 11, 23), datetime.time(20, 59))


@pytest.mark.parametrize(
    ("due", "expected"),
    [
        ("2026-11-24 12:00", "2026-11-24 12:00"),  # midday: as due
        ("2026-11-24 08:00", "2026-11-24 08:00"),  # quiet hours end at 08:00
        ("2026-11-24 20:59", "2026-11-24 20:59"),
        ("2026-11-24 21:00", "2026-11-24 20:59"),  # quiet from 21:00 on
        ("2026-11-24 23:30", "2026-11-24 20:59"),
        ("2026-11-25 03:00", "2026-11-24 20:59"),  # after midnight: the evening before
    ],
)
def test_quiet_hours_move_a_reminder_to_just_before_they_began(chicago: Clinic, due: str, expected: str) -> None:
    starts = at(due) + datetime.timedelta(hours=24)
    send_at = reminder_send_at(starts_at=starts, offset_minutes=24 * 60, clinic=chicago, now=at("2026-11-01 00:00"))
    assert send_at == at(expected)


def test_a_reminder_that_can_no_longer_go_out_before_the_session_is_not_made(chicago: Clinic) -> None:
    starts = at("2026-11-24 12:00")
    late_booking = at("2026-11-24 11:30")
    assert reminder_send_at(starts_at=starts, offset_minutes=120, clinic=chicago, now=late_booking) == late_booking
    night_booking = at("2026-11-24 06:00")
    assert (
        reminder_send_at(starts_at=at("2026-11-24 07:00"), offset_minutes=120, clinic=chicago, now=night_booking)
        is None
    )


def _appointment(clinic: Clinic, starts: datetime.datetime, **patient: Any) -> Appointment:
    person = PatientFactory.create(clinic=clinic, **patient)
    appointment = AppointmentFactory.create(
        clinic=clinic, patient=person, starts_at=starts, ends_at=starts + datetime.timedelta(minutes=50)
    )
    reminders_sync_appointment(appointment=appointment, now=at("2026-11-20 12:00"))
    return appointment


def test_booking_makes_one_pending_row_per_offset_for_an_opted_in_patient(chicago: Clinic) -> None:
    appointment = _appointment(chicago, at("2026-11-25 14:00"))
    assert sorted(Reminder.objects.filter(appointment=appointment).values_list("offset_minutes", flat=True)) == [
        120,
        2880,
    ]
    reminders_sync_appointment(appointment=appointment, now=at("2026-11-20 12:00"))
    assert Reminder.objects.filter(appointment=appointment).count() == 2


@pytest.mark.parametrize("patient", [{"reminders_opt_in": False}, {"email": ""}])
def test_a_patient_without_opt_in_or_email_gets_no_rows(chicago: Clinic, patient: dict[str, Any]) -> None:
    assert not Reminder.objects.filter(appointment=_appointment(chicago, at("2026-11-25 14:00"), **patient)).exists()


def test_moving_a_session_cancels_the_old_reminders_and_makes_new_ones(chicago: Clinic) -> None:
    appointment = _appointment(chicago, at("2026-11-25 14:00"))
    old = set(Reminder.objects.filter(appointment=appointment).values_list("pk", flat=True))
    appointment.starts_at, appointment.ends_at = at("2026-11-29 10:00"), at("2026-11-29 10:50")
    appointment.save()
    reminders_sync_appointment(appointment=appointment, now=at("2026-11-20 12:00"))
    assert set(Reminder.objects.filter(pk__in=old).values_list("status", flat=True)) == {ReminderStatus.CANCELLED}
    fresh = Reminder.objects.filter(appointment=appointment, status=ReminderStatus.PENDING)
    assert {r.starts_at for r in fresh} == {at("2026-11-29 10:00")}
    # At the old reminder's time, nothing goes out.
    with time_machine.travel(at("2026-11-25 12:30"), tick=False):
        assert reminders_dispatch().sent == 0
    assert mail.outbox == []


def test_cancelling_a_session_means_its_reminders_never_go_out(chicago: Clinic) -> None:
    appointment = _appointment(chicago, at("2026-11-25 14:00"))
    appointment.attendance_status = AttendanceStatus.CANCELLED
    appointment.save()
    reminders_sync_appointment(appointment=appointment, now=at("2026-11-20 12:00"))
    with time_machine.travel(at("2026-11-25 13:00"), tick=False):
        assert reminders_dispatch().sent == 0
    assert set(Reminder.objects.values_list("status", flat=True)) == {ReminderStatus.CANCELLED}


def test_a_due_reminder_is_sent_once_and_recorded(chicago: Clinic) -> None:
    appointment = _appointment(chicago, at("2026-11-25 14:00"))
    with time_machine.travel(at("2026-11-23 14:05"), tick=False):
        first = reminders_dispatch()
        again = reminders_dispatch()
    assert (first.sent, again.sent) == (1, 0)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [appointment.patient.email]
    sent = Reminder.objects.get(status=ReminderStatus.SENT)
    assert (sent.offset_minutes, sent.attempts) == (2880, 1)
    assert sent.provider_message_id


@pytest.mark.parametrize("sessions", [2, 20])
def test_a_batch_sent_one_at_a_time_costs_one_statement_a_message(
    chicago: Clinic, sessions: int, settings: Any
) -> None:
    settings.AFTERCARE_REMINDER_SEND_CONCURRENCY = 1
    for index in range(sessions):
        _appointment(chicago, at("2026-11-25 14:00") + datetime.timedelta(minutes=index))
    with time_machine.travel(at("2026-11-23 16:05"), tick=False), CaptureQueriesContext(connection) as queries:
        assert reminders_dispatch().sent == sessions
    # Per batch: claim (select, update), load with everything the messages need, the last outcome.
    # Per message one statement, committed before the hand-off: its own `sending` mark together
    # with the previous message's outcome.
    assert len([q for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]) == 4 + sessions


@pytest.mark.parametrize("sessions", [2, 16, 20])
def test_messages_sent_together_are_handed_over_in_one_statement(chicago: Clinic, sessions: int, settings: Any) -> None:
    settings.AFTERCARE_REMINDER_SEND_CONCURRENCY = 16
    for index in range(sessions):
        _appointment(chicago, at("2026-11-25 14:00") + datetime.timedelta(minutes=index))
    with time_machine.travel(at("2026-11-23 16:05"), tick=False), CaptureQueriesContext(connection) as queries:
        assert reminders_dispatch().sent == sessions
    statements = len([q for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]])
    # Claim (select, update), load, one hand-off of as many as there are senders, the outcomes.
    # Beyond that, one statement at most for each message that waited for a sender to be free
    # (more only when the senders finish one by one).
    assert 5 <= statements <= 5 + max(0, sessions - 16)


def test_a_patient_who_opted_out_after_booking_gets_nothing(chicago: Clinic) -> None:
    appointment = _appointment(chicago, at("2026-11-25 14:00"))
    appointment.patient.reminders_opt_in = False
    appointment.patient.save()
    with time_machine.travel(at("2026-11-25 13:00"), tick=False):
        result = reminders_dispatch()
    assert (result.sent, result.cancelled) == (0, 2)
    assert mail.outbox == []


def test_a_reminder_whose_session_has_started_expires(chicago: Clinic) -> None:
    _appointment(chicago, at("2026-11-25 14:00"))
    with time_machine.travel(at("2026-11-25 14:01"), tick=False):
        assert reminders_dispatch().expired == 2
    assert mail.outbox == []


class FlakyConnection:
    """An email connection at the edge of the world: the provider fails, then recovers."""

    def __init__(self, failures: int, error: type[Exception] = smtplib.SMTPServerDisconnected) -> None:
        self.failures = failures
        self.error = error
        self.sent: list[Any] = []

    def __enter__(self) -> FlakyConnection:
        return self

    def __exit__(self, *args: Any) -> None:
        return None

    def send_messages(self, messages: list[Any]) -> int:
        if self.failures:
            self.failures -= 1
            raise self.error("provider unavailable")
        self.sent.extend(messages)
        return len(messages)


def test_a_transient_failure_is_retried_later_then_sent(chicago: Clinic) -> None:
    _appointment(chicago, at("2026-11-25 14:00"))
    flaky = FlakyConnection(failures=1)
    with time_machine.travel(at("2026-11-23 14:05"), tick=False):
        first = reminders_dispatch(connection=flaky)
    assert (first.retried, first.sent) == (1, 0)
    retry = Reminder.objects.get(offset_minutes=2880)
    assert retry.status == ReminderStatus.PENDING
    assert retry.send_at > at("2026-11-23 14:05")
    assert retry.last_error == "SMTPServerDisconnected"
    with time_machine.travel(retry.send_at + datetime.timedelta(seconds=1), tick=False):
        assert reminders_dispatch(connection=flaky).sent == 1
    assert len(flaky.sent) == 1


def test_a_reminder_that_keeps_failing_ends_failed_with_the_reason(chicago: Clinic) -> None:
    _appointment(chicago, at("2026-11-25 14:00"))
    flaky = FlakyConnection(failures=100)
    moment = at("2026-11-23 14:05")
    for _ in range(10):
        with time_machine.travel(moment, tick=False):
            reminders_dispatch(connection=flaky)
        moment += datetime.timedelta(hours=2)
    failed = Reminder.objects.get(offset_minutes=2880)
    assert failed.status == ReminderStatus.FAILED
    assert "SMTPServerDisconnected" in failed.last_error
    assert failed.attempts <= 5


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (smtplib.SMTPResponseException(451, b"try later"), True),
        (smtplib.SMTPResponseException(550, b"no such user"), False),
        (smtplib.SMTPServerDisconnected("gone"), True),
        (type("ProviderError", (Exception,), {"status_code": 503})(), True),
        (type("ProviderError", (Exception,), {"status_code": 429})(), True),
        (type("ProviderError", (Exception,), {"status_code": 422})(), False),
        (ValueError("bad address"), False),
    ],
)
def test_only_failures_of_the_network_or_provider_are_retried(error: Exception, transient: bool) -> None:
    from aftercare.services.reminder_dispatch import is_transient

    assert is_transient(error) is transient


def test_a_rejected_message_fails_at_once(chicago: Clinic) -> None:
    _appointment(chicago, at("2026-11-25 14:00"))
    with time_machine.travel(at("2026-11-23 14:05"), tick=False):
        result = reminders_dispatch(connection=FlakyConnection(failures=1, error=ValueError))
    assert result.failed == 1
    assert Reminder.objects.get(offset_minutes=2880).last_error == "ValueError"


def test_a_reminder_that_cannot_be_composed_fails_visibly_and_the_rest_go_out(chicago: Clinic) -> None:
    broken = _appointment(chicago, at("2026-11-25 14:00"))
    Appointment.objects.filter(pk=broken.pk).update(telehealth_url="ftp://files.example.org/x")
    _appointment(chicago, at("2026-11-25 16:00"))
    with time_machine.travel(at("2026-11-23 16:05"), tick=False):
        result = reminders_dispatch()
    assert (result.sent, result.failed) == (1, 1)
    assert Reminder.objects.get(appointment=broken, offset_minutes=2880).last_error == (
        "telehealth_url must be an absolute http(s) URL"
    )
    assert len(mail.outbox) == 1


def test_a_clinic_name_written_before_it_was_checked_fails_the_reminder_rather_than_reveal_it(
    chicago: Clinic,
) -> None:
    _appointment(chicago, at("2026-11-25 14:00"))
    Clinic.objects.filter(pk=chicago.pk).update(name="Lakeside Recovery Center", display_name="")
    with time_machine.travel(at("2026-11-23 16:05"), tick=False):
        result = reminders_dispatch()
    assert (result.sent, result.failed) == (0, 1)
    assert mail.outbox == []
    failed = Reminder.objects.get(status=ReminderStatus.FAILED)
    assert failed.last_error == "clinic_name is not neutral enough for a patient's email"


def test_a_row_left_sending_by_a_dead_worker_is_in_doubt_not_failed_and_not_resent(chicago: Clinic) -> None:
    _appointment(chicago, at("2026-11-23 18:00"))
    Reminder.objects.filter(offset_minutes=2880).update(
        status=ReminderStatus.SENDING, claimed_at=at("2026-11-23 14:00"), lease_expires_at=at("2026-11-23 14:01")
    )
    recovered = reminders_recover_stuck(now=at("2026-11-23 14:30"))
    row = Reminder.objects.get(offset_minutes=2880)
    assert row.status == "in_doubt"
    assert "may have been delivered" in row.last_error
    assert recovered.in_doubt == 1
    with time_machine.travel(at("2026-11-23 17:00"), tick=False):
        assert reminders_dispatch_all().sent == 1  # the 2-hour one only
    assert Reminder.objects.get(offset_minutes=2880).status == "in_doubt"
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_dispatchers_racing_over_the_same_due_rows_send_each_once() -> None:
    clinic = ClinicFactory.create(time_zone="UTC")
    starts = datetime.datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    for index in range(30):
        begins = starts + datetime.timedelta(hours=index)
        appointment = AppointmentFactory.create(
            clinic=clinic,
            patient=PatientFactory.create(clinic=clinic),
            starts_at=begins,
            ends_at=begins + datetime.timedelta(minutes=50),
        )
        reminders_sync_appointment(appointment=appointment, now=datetime.datetime(2026, 11, 20, tzinfo=UTC))
    with time_machine.travel(datetime.datetime(2026, 11, 25, 13, 0, tzinfo=UTC), tick=False):
        results = _race([lambda: reminders_dispatch(batch_size=7) for _ in range(4)] * 2)
    claimed_ids = [pk for result in results for pk in result.ids]
    assert len(claimed_ids) == len(set(claimed_ids))
    sent = Reminder.objects.filter(status=ReminderStatus.SENT)
    # Every 48-hour reminder and the 2-hour ones of the first two sessions were due: those two
    # sessions get their 2-hour one only, the 48-hour one skipped.
    assert sent.count() == 30 == len(mail.outbox) == sum(r.sent for r in results)
    assert Reminder.objects.filter(status=ReminderStatus.SKIPPED).count() == 2 == sum(r.skipped for r in results)
    assert set(sent.values_list("attempts", flat=True)) == {1}
    assert len({m.extra_headers["Message-ID"] for m in mail.outbox}) == 30
    connection.close()


def test_a_missed_session_brings_a_we_missed_you_message_where_the_clinic_wants_it(chicago: Clinic, ehr_a: Any) -> None:
    from aftercare.services.appointments import attendance_record
    from clinic.auth.caller import Caller
    from clinic.auth.scopes import ALL_SCOPES

    by = Caller(clinic=chicago, scopes=ALL_SCOPES, client=ehr_a.client)
    quiet = _appointment(chicago, at("2026-11-24 10:00"))
    with time_machine.travel(at("2026-11-24 11:00"), tick=False):
        attendance_record(appointment=quiet, status="missed", by=by)
        assert not Reminder.objects.filter(kind="missed_session").exists()  # off by default
        chicago.missed_session_message = True
        chicago.save()
        wanted = _appointment(chicago, at("2026-11-24 10:30"))
        attendance_record(appointment=wanted, status="missed", by=by)
    # After the clinic's grace period (2 hours by default), in case the mark is taken back.
    with time_machine.travel(at("2026-11-24 13:00"), tick=False):
        assert reminders_dispatch().sent == 1
    message = mail.outbox[0]
    assert message.to == [wanted.patient.email]
    assert "+1 312-555-0100" in message.body
    assert not message.attachments  # no calendar entry for a session that is over


def test_a_missed_session_in_quiet_hours_is_followed_up_in_the_morning(chicago: Clinic, ehr_a: Any) -> None:
    from aftercare.services.appointments import attendance_record
    from clinic.auth.caller import Caller
    from clinic.auth.scopes import ALL_SCOPES

    chicago.missed_session_message = True
    chicago.save()
    late = _appointment(chicago, at("2026-11-24 20:30"))
    with time_machine.travel(at("2026-11-24 21:40"), tick=False):
        attendance_record(
            appointment=late, status="missed", by=Caller(clinic=chicago, scopes=ALL_SCOPES, client=ehr_a.client)
        )
    follow_up = Reminder.objects.get(kind="missed_session")
    assert follow_up.send_at == at("2026-11-25 08:00")
