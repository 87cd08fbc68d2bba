"""The "we missed you" email: it waits the clinic's grace period after the no-show is recorded, so
a mark taken back or corrected meanwhile sends nothing; then it goes once, outside quiet hours, to
a patient who still wants reminders."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from aftercare.models import Appointment, AttendanceStatus, Reminder, ReminderKind, ReminderStatus
from aftercare.services.appointments import attendance_record
from aftercare.services.reminder_dispatch import reminders_dispatch
from clinic.auth.caller import Caller
from clinic.auth.scopes import ROLE_SCOPES
from clinic.models import Clinic, Role, User
from tests.aftercare.factories import AppointmentFactory
from tests.factories import ClinicFactory, MembershipFactory, PatientFactory

UTC = datetime.UTC
# 15:00 in Chicago: the default grace (2 hours) ends at 17:00, outside quiet hours.
RECORDED = datetime.datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
HOUR = datetime.timedelta(hours=1)
MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture
def clinic(db: None) -> Clinic:
    return ClinicFactory.create(time_zone="America/Chicago", missed_session_message=True)


def staff(clinic: Clinic, role: str = Role.CLINICIAN) -> Caller:
    user: User = MembershipFactory.create(clinic=clinic, role=role).user
    return Caller(clinic=clinic, scopes=ROLE_SCOPES[role], user=user, role=role)


def no_show(clinic: Clinic, by: Caller, *, at: datetime.datetime = RECORDED) -> Appointment:
    starts = at - HOUR
    appointment = AppointmentFactory.create(
        clinic=clinic,
        patient=PatientFactory.create(clinic=clinic),
        starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=50),
    )
    return attendance_record(appointment=appointment, status=AttendanceStatus.MISSED, by=by, now=at)


def note(appointment: Appointment) -> Reminder:
    return Reminder.objects.get(appointment=appointment, kind=ReminderKind.MISSED_SESSION)


def dispatch_at(moment: datetime.datetime) -> int:
    with time_machine.travel(moment, tick=False):
        return reminders_dispatch().sent


def test_the_we_missed_you_email_waits_two_hours_after_the_no_show_is_recorded_by_default(clinic: Clinic) -> None:
    assert clinic.missed_session_grace_minutes == 120
    appointment = no_show(clinic, staff(clinic))
    assert note(appointment).send_at == RECORDED + 2 * HOUR
    assert dispatch_at(RECORDED + MINUTE) == 0
    assert dispatch_at(RECORDED + 2 * HOUR - MINUTE) == 0
    assert mail.outbox == []
    assert dispatch_at(RECORDED + 2 * HOUR) == 1
    assert dispatch_at(RECORDED + 3 * HOUR) == 0
    assert [m.to for m in mail.outbox] == [[appointment.patient.email]]


@pytest.mark.parametrize(("minutes", "sent_after"), [(0, datetime.timedelta(0)), (45, 45 * MINUTE)])
def test_the_grace_period_is_the_clinics_own(clinic: Clinic, minutes: int, sent_after: datetime.timedelta) -> None:
    Clinic.objects.filter(pk=clinic.pk).update(missed_session_grace_minutes=minutes)
    clinic.refresh_from_db()
    appointment = no_show(clinic, staff(clinic))
    assert note(appointment).send_at == RECORDED + sent_after
    assert dispatch_at(RECORDED + sent_after) == 1


def test_a_no_show_corrected_within_the_grace_period_sends_nothing(clinic: Clinic) -> None:
    clinician = staff(clinic)
    appointment = no_show(clinic, staff(clinic, Role.FRONT_DESK))
    # Past the undo window: a correction, with its reason, by clinical staff.
    attendance_record(
        appointment=appointment,
        status=AttendanceStatus.ATTENDED,
        by=clinician,
        reason="Was in the group room",
        now=RECORDED + HOUR,
    )
    assert note(appointment).status == ReminderStatus.CANCELLED
    assert dispatch_at(RECORDED + 3 * HOUR) == 0
    assert mail.outbox == []


def test_a_no_show_marked_again_after_an_undo_still_gets_its_email(clinic: Clinic) -> None:
    desk = staff(clinic, Role.FRONT_DESK)
    appointment = no_show(clinic, desk)
    # A mis-click taken back at once, then the no-show recorded for real a little later.
    attendance_record(appointment=appointment, status=AttendanceStatus.SCHEDULED, by=desk, now=RECORDED + MINUTE)
    assert note(appointment).status == ReminderStatus.CANCELLED
    attendance_record(appointment=appointment, status=AttendanceStatus.MISSED, by=desk, now=RECORDED + 10 * MINUTE)
    assert note(appointment).status == ReminderStatus.PENDING
    assert note(appointment).send_at == RECORDED + 10 * MINUTE + 2 * HOUR
    assert dispatch_at(RECORDED + 2 * HOUR) == 0
    assert dispatch_at(RECORDED + 10 * MINUTE + 2 * HOUR) == 1
    assert len(mail.outbox) == 1


def test_a_note_whose_no_show_is_no_longer_recorded_is_not_sent(clinic: Clinic) -> None:
    appointment = no_show(clinic, staff(clinic))
    # Changed without the attendance service (an import, a fix in the database): the note checks.
    Appointment.objects.filter(pk=appointment.pk).update(attendance_status=AttendanceStatus.EXCUSED)
    with time_machine.travel(RECORDED + 3 * HOUR, tick=False):
        result = reminders_dispatch()
    assert (result.sent, result.cancelled) == (0, 1)
    assert note(appointment).status == ReminderStatus.CANCELLED
    assert mail.outbox == []


def test_a_late_cancellation_brings_no_we_missed_you_email(clinic: Clinic) -> None:
    # The patient told the clinic they were not coming: nothing to ask them about.
    starts = RECORDED + HOUR
    appointment = AppointmentFactory.create(
        clinic=clinic, patient=PatientFactory.create(clinic=clinic), starts_at=starts, ends_at=starts + HOUR
    )
    attendance_record(appointment=appointment, status=AttendanceStatus.LATE_CANCELLED, by=staff(clinic), now=RECORDED)
    assert not Reminder.objects.filter(kind=ReminderKind.MISSED_SESSION).exists()


def test_a_grace_period_ending_in_quiet_hours_waits_for_the_morning(clinic: Clinic) -> None:
    # Recorded at 20:00 in Chicago: 22:00 is quiet (21:00 to 08:00), so 08:00 the next day.
    appointment = no_show(clinic, staff(clinic), at=datetime.datetime(2026, 11, 25, 2, 0, tzinfo=UTC))
    assert note(appointment).send_at == datetime.datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


def test_a_patient_who_opts_out_during_the_grace_period_gets_nothing(clinic: Clinic) -> None:
    appointment = no_show(clinic, staff(clinic))
    appointment.patient.reminders_opt_in = False
    appointment.patient.save()
    assert dispatch_at(RECORDED + 2 * HOUR) == 0
    assert note(appointment).status == ReminderStatus.CANCELLED


@pytest.mark.parametrize("minutes", [-1, 72 * 60 + 1])
def test_the_grace_period_is_bounded_from_0_to_72_hours(clinic: Clinic, minutes: int) -> None:
    clinic.missed_session_grace_minutes = minutes
    with pytest.raises(ValidationError) as refused:
        clinic.full_clean()
    assert set(refused.value.message_dict) == {"missed_session_grace_minutes"}
    with pytest.raises(IntegrityError, match="missed_session_grace"), transaction.atomic():
        Clinic.objects.filter(pk=clinic.pk).update(missed_session_grace_minutes=minutes)


def test_the_grace_period_can_be_72_hours(clinic: Clinic) -> None:
    Clinic.objects.filter(pk=clinic.pk).update(missed_session_grace_minutes=72 * 60)
    clinic.refresh_from_db()
    clinic.full_clean()
    appointment = no_show(clinic, staff(clinic))
    assert note(appointment).send_at == RECORDED + 72 * HOUR
