"""The beat schedule names only tasks the worker knows, and the scheduled work does its job."""

from __future__ import annotations

import datetime

import time_machine

from aftercare.models import Appointment
from tasks.celery import app
from tasks.schedule import BEAT_SCHEDULE
from tasks.schedule_tasks import series_materialize_all
from tests.aftercare.factories import clinician_of
from tests.factories import ClinicFactory, PatientFactory


def test_every_scheduled_entry_names_a_registered_task() -> None:
    app.loader.import_default_modules()
    registered = set(app.tasks)
    assert {entry["task"] for entry in BEAT_SCHEDULE.values()} <= registered


def test_the_materialize_task_keeps_series_booked_ahead(db: None) -> None:
    from aftercare.models import AppointmentSeries

    clinic = ClinicFactory.create(time_zone="UTC")
    series = AppointmentSeries.objects.create(
        clinic=clinic, patient=PatientFactory.create(clinic=clinic), clinician=clinician_of(clinic),
        kind="psychiatry", rrule="FREQ=WEEKLY;BYDAY=MO", starts_on=datetime.date(2026, 11, 2),
        local_start_time=datetime.time(9), duration_minutes=30, time_zone="UTC",
    )  # fmt: skip
    with time_machine.travel(datetime.datetime(2026, 11, 1, 12, tzinfo=datetime.UTC), tick=False):
        assert series_materialize_all() == 13
        assert series_materialize_all() == 0
    with time_machine.travel(datetime.datetime(2026, 11, 22, 12, tzinfo=datetime.UTC), tick=False):
        assert series_materialize_all() == 3
    assert Appointment.objects.filter(series=series).count() == 16
