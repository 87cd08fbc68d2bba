"""A clinic's policy at the edges of its bounds still books: every reminder computed, no 500."""

from __future__ import annotations

import datetime
from typing import Any

from django.utils import timezone

from aftercare.models import Appointment, Reminder
from aftercare.services.series import series_materialize_all
from clinic.models import Role
from clinic.models.organisation import REMINDER_OFFSET_MAX_MINUTES, REMINDER_OFFSET_MIN_MINUTES
from tests.conftest import Persona
from tests.factories import PatientFactory

OFFSETS = [REMINDER_OFFSET_MAX_MINUTES, REMINDER_OFFSET_MAX_MINUTES - 1, 10080, 1440, 120, REMINDER_OFFSET_MIN_MINUTES]


def test_a_booking_at_the_largest_allowed_policy_gets_its_reminders(ehr_a: Persona, make_staff: Any) -> None:
    clinic = ehr_a.clinic
    clinic.reminder_offsets_minutes = OFFSETS
    clinic.quiet_hours_start, clinic.quiet_hours_end = datetime.time(18), datetime.time(10)  # 16 hours
    clinic.full_clean()
    clinic.save()
    clinician = make_staff(clinic, Role.CLINICIAN).user
    patient = PatientFactory.create(clinic=clinic)
    for days in (40, 1):  # far enough for every offset; and booked late, inside most of them
        start = (timezone.now() + datetime.timedelta(days=days)).replace(microsecond=0)
        response = ehr_a.api.post(
            "/api/v1/appointments/",
            {
                "patient": str(patient.pk), "clinician": str(clinician.pk), "kind": "individual_therapy",
                "starts_at": start.isoformat(), "ends_at": (start + datetime.timedelta(minutes=50)).isoformat(),
            },
        )  # fmt: skip
        assert response.status_code == 201, response.json()
    far, near = Appointment.objects.order_by("-starts_at")
    assert sorted(Reminder.objects.filter(appointment=far).values_list("offset_minutes", flat=True)) == sorted(OFFSETS)
    for reminder in Reminder.objects.filter(appointment__in=[far, near]):
        assert reminder.send_at < reminder.starts_at
        local = reminder.send_at.astimezone(clinic.zone).time()
        assert datetime.time(10) <= local < datetime.time(18) or reminder.send_at <= timezone.now()


def test_series_are_extended_for_a_clinic_at_the_largest_allowed_policy(ehr_a: Persona, make_staff: Any) -> None:
    from aftercare.models import AppointmentSeries

    clinic = ehr_a.clinic
    clinic.reminder_offsets_minutes = OFFSETS
    clinic.save()
    series = AppointmentSeries.objects.create(
        clinic=clinic, patient=PatientFactory.create(clinic=clinic), clinician=make_staff(clinic, Role.CLINICIAN).user,
        kind="psychiatry", rrule="FREQ=WEEKLY;BYDAY=MO", starts_on=timezone.localdate(),
        local_start_time=datetime.time(9), duration_minutes=30, time_zone=clinic.time_zone,
    )  # fmt: skip
    assert series_materialize_all() >= 12
    assert Reminder.objects.filter(appointment__series=series).count() > 12
