"""Checking a patient in (arrival is not attendance) and taking back a mis-clicked mark."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from aftercare.models import Appointment, AttendanceStatus, Reminder, ReminderKind, ReminderStatus
from aftercare.services.appointments import appointment_check_in, attendance_record
from clinic.auth.caller import Caller
from clinic.auth.scopes import ROLE_SCOPES
from clinic.models import Clinic, Role, User
from tests.aftercare.factories import AppointmentFactory
from tests.factories import ClinicFactory, MembershipFactory, PatientFactory, integration_client

NOW = datetime.datetime(2026, 11, 24, 15, 0, tzinfo=datetime.UTC)


def staff(clinic: Clinic, role: str = Role.FRONT_DESK) -> Caller:
    user: User = MembershipFactory.create(clinic=clinic, role=role).user
    return Caller(clinic=clinic, scopes=ROLE_SCOPES[role], user=user, role=role)


def appointment_at(clinic: Clinic, starts_at: datetime.datetime) -> Appointment:
    return AppointmentFactory.create(
        clinic=clinic,
        patient=PatientFactory.create(clinic=clinic),
        starts_at=starts_at,
        ends_at=starts_at + datetime.timedelta(minutes=50),
    )


def field_of(exc: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return set(exc.value.message_dict)


# --- check-in ---------------------------------------------------------------------------------


def test_check_in_opens_the_clinics_window_before_the_start(db: None) -> None:
    clinic = ClinicFactory.create(checkin_opens_minutes=45)
    appointment = appointment_at(clinic, NOW + datetime.timedelta(minutes=46))
    desk = staff(clinic)
    with pytest.raises(ValidationError) as early:
        appointment_check_in(appointment=appointment, by=desk, now=NOW)
    assert field_of(early) == {"arrived_at"}
    assert "opens at" in early.value.message_dict["arrived_at"][0]
    later = NOW + datetime.timedelta(minutes=1)
    arrived = appointment_check_in(appointment=appointment, by=desk, now=later)
    assert (arrived.arrived_at, arrived.arrived_by) == (later, desk.user)
    assert arrived.attendance_status == AttendanceStatus.SCHEDULED  # arrival is not attendance


def test_the_default_window_is_sixty_minutes(db: None) -> None:
    clinic = ClinicFactory.create()
    assert clinic.checkin_opens_minutes == 60
    appointment_check_in(
        appointment=appointment_at(clinic, NOW + datetime.timedelta(minutes=60)), by=staff(clinic), now=NOW
    )
    with pytest.raises(ValidationError):
        appointment_check_in(
            appointment=appointment_at(clinic, NOW + datetime.timedelta(minutes=61)), by=staff(clinic), now=NOW
        )


def test_a_cancelled_or_recorded_appointment_cannot_be_checked_in(db: None) -> None:
    clinic = ClinicFactory.create()
    desk = staff(clinic)
    cancelled = appointment_at(clinic, NOW + datetime.timedelta(minutes=10))
    attendance_record(appointment=cancelled, status="cancelled", by=desk, now=NOW - datetime.timedelta(days=2))
    with pytest.raises(ValidationError) as refused:
        appointment_check_in(appointment=cancelled, by=desk, now=NOW)
    assert field_of(refused) == {"attendance_status"}
    recorded = appointment_at(clinic, NOW - datetime.timedelta(minutes=5))
    attendance_record(appointment=recorded, status="attended", by=desk, now=NOW)
    with pytest.raises(ValidationError) as again:
        appointment_check_in(appointment=recorded, by=desk, now=NOW)
    assert field_of(again) == {"attendance_status"}
    assert not Appointment.objects.filter(arrived_at__isnull=False).exists()


def test_an_arrived_patient_is_then_marked_attended(db: None) -> None:
    clinic = ClinicFactory.create()
    desk = staff(clinic)
    appointment = appointment_at(clinic, NOW + datetime.timedelta(minutes=30))
    appointment_check_in(appointment=appointment, by=desk, now=NOW)
    with pytest.raises(ValidationError) as twice:
        appointment_check_in(appointment=appointment, by=desk, now=NOW)
    assert field_of(twice) == {"arrived_at"}
    marked = attendance_record(
        appointment=appointment, status="attended", by=desk, now=NOW + datetime.timedelta(minutes=31)
    )
    assert marked.attendance_status == "attended"
    assert marked.arrived_at == NOW


def test_the_window_setting_is_bounded_in_the_database(db: None) -> None:
    from django.db import IntegrityError, transaction

    clinic = ClinicFactory.create()
    with pytest.raises(IntegrityError), transaction.atomic():
        Clinic.objects.filter(pk=clinic.pk).update(checkin_opens_minutes=1000)
    clinic.checkin_opens_minutes = 481
    with pytest.raises(ValidationError) as bad:
        clinic.full_clean()
    assert field_of(bad) == {"checkin_opens_minutes"}


# --- undo -------------------------------------------------------------------------------------


def test_the_same_staff_member_undoes_a_mark_within_the_window_without_a_reason(db: None) -> None:
    clinic = ClinicFactory.create()
    desk = staff(clinic)
    appointment = appointment_at(clinic, NOW - datetime.timedelta(minutes=5))
    attendance_record(appointment=appointment, status="missed", by=desk, now=NOW)
    changed = attendance_record(
        appointment=appointment, status="attended", by=desk, now=NOW + datetime.timedelta(minutes=2)
    )
    assert changed.attendance_status == "attended"
    back = attendance_record(
        appointment=appointment, status="scheduled", by=desk, now=NOW + datetime.timedelta(minutes=4)
    )
    assert back.attendance_status == "scheduled"  # back to scheduled although it has started
    history = list(back.attendance_history.values_list("previous_status", "status", "reason"))
    assert history == [("scheduled", "missed", ""), ("missed", "attended", ""), ("attended", "scheduled", "")]


def test_after_the_window_a_change_is_a_correction(db: None, settings: Any) -> None:
    settings.AFTERCARE_ATTENDANCE_UNDO_SECONDS = 120
    clinic = ClinicFactory.create()
    clinician, desk = staff(clinic, Role.CLINICIAN), staff(clinic)
    mine = appointment_at(clinic, NOW - datetime.timedelta(minutes=5))
    attendance_record(appointment=mine, status="missed", by=clinician, now=NOW)
    later = NOW + datetime.timedelta(seconds=121)
    with pytest.raises(ValidationError) as no_reason:
        attendance_record(appointment=mine, status="attended", by=clinician, now=later)
    assert field_of(no_reason) == {"reason"}
    with pytest.raises(ValidationError) as not_back:
        attendance_record(appointment=mine, status="scheduled", by=clinician, reason="Oops", now=later)
    assert field_of(not_back) == {"status"}
    attendance_record(appointment=mine, status="attended", by=clinician, reason="Was in the waiting room", now=later)
    front = appointment_at(clinic, NOW - datetime.timedelta(hours=2))
    attendance_record(appointment=front, status="attended", by=desk, now=NOW)
    with pytest.raises(PermissionDenied):
        attendance_record(appointment=front, status="missed", by=desk, reason="Wrong row", now=later)


def test_only_the_staff_member_who_made_the_mark_may_undo_it(db: None) -> None:
    clinic = ClinicFactory.create()
    first, second = staff(clinic, Role.CLINICIAN), staff(clinic, Role.CLINICIAN)
    appointment = appointment_at(clinic, NOW - datetime.timedelta(minutes=5))
    attendance_record(appointment=appointment, status="missed", by=first, now=NOW)
    with pytest.raises(ValidationError) as other:
        attendance_record(
            appointment=appointment, status="attended", by=second, now=NOW + datetime.timedelta(seconds=10)
        )
    assert field_of(other) == {"reason"}
    ehr = integration_client(clinic, ["attendance:write"])
    by_ehr = Caller(clinic=clinic, scopes=frozenset({"attendance:write"}), client=ehr)
    attendance_record(appointment=appointment, status="late", by=by_ehr, reason="EHR says late", now=NOW)
    with pytest.raises(ValidationError):
        attendance_record(
            appointment=appointment, status="attended", by=by_ehr, now=NOW + datetime.timedelta(seconds=10)
        )


def test_undoing_a_no_show_withdraws_the_we_missed_you_message(db: None) -> None:
    clinic = ClinicFactory.create(
        missed_session_message=True, quiet_hours_start=datetime.time(0, 0), quiet_hours_end=datetime.time(0, 0)
    )
    desk = staff(clinic)
    appointment = appointment_at(clinic, NOW - datetime.timedelta(minutes=5))
    attendance_record(appointment=appointment, status="missed", by=desk, now=NOW)
    message = Reminder.objects.get(appointment=appointment, kind=ReminderKind.MISSED_SESSION)
    assert message.status == ReminderStatus.PENDING
    attendance_record(appointment=appointment, status="attended", by=desk, now=NOW + datetime.timedelta(minutes=1))
    message.refresh_from_db()
    assert message.status == ReminderStatus.CANCELLED


def test_the_api_takes_a_mark_back_within_the_window(make_staff: Any) -> None:
    clinic = ClinicFactory.create()
    desk = make_staff(clinic, Role.FRONT_DESK)
    appointment = appointment_at(clinic, timezone.now() - datetime.timedelta(minutes=5))
    url = f"/api/v1/appointments/{appointment.pk}/attendance/"
    assert desk.api.post(url, {"status": "missed"}).status_code == 200
    assert desk.api.post(url, {"status": "attended"}).status_code == 200
    Appointment.objects.filter(pk=appointment.pk).update(
        attendance_recorded_at=timezone.now() - datetime.timedelta(hours=1)
    )
    assert desk.api.post(url, {"status": "missed", "reason": "Wrong row"}).status_code == 403
