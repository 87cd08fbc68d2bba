"""One clinic's data never breaks another clinic's periodic work: each job does every other
clinic's share, logs the failing clinic without PHI, and fails the task afterwards so it is seen."""

from __future__ import annotations

import datetime
import logging
import zoneinfo

import pytest
import time_machine
from django.core import mail
from django.db import connection

from aftercare.models import Appointment, AppointmentSeries, RiskFlag, RiskRule
from clinic.batch import ClinicsFailed
from clinic.models import Clinic, Patient, Role
from tasks.reminders import digests_send
from tasks.risk import risk_sweep
from tasks.schedule_tasks import series_materialize_all
from tests.aftercare.factories import clinician_of
from tests.factories import ClinicFactory, MembershipFactory, PatientFactory

NOW = datetime.datetime(2026, 11, 24, 13, 5, tzinfo=datetime.UTC)  # 07:05 in Chicago


def _failure_lines(caplog: pytest.LogCaptureFixture, job: str) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.getMessage().startswith(f"{job} failed")]


def _assert_logged_without_phi(caplog: pytest.LogCaptureFixture, job: str, broken: Clinic, patient: Patient) -> None:
    (line,) = _failure_lines(caplog, job)
    assert str(broken.pk) in line
    assert broken.slug in line
    for phi in (patient.given_name, patient.family_name, patient.email, patient.external_id):
        assert not phi or phi not in line
    # The class and the place, never the exception's message.
    assert not any(record.exc_info for record in caplog.records if record.getMessage() == line)


def _zone_removed_from_tzdata(clinic: Clinic) -> None:
    """A zone name stored before the model checked it (or dropped by a tzdata update since)."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE clinic_clinic SET time_zone = 'Mars/Olympus_Mons' WHERE id = %s", [clinic.pk])


def _series(clinic: Clinic, patient: Patient, rrule: str = "FREQ=WEEKLY;BYDAY=MO") -> AppointmentSeries:
    # Written straight to the table (not through the series service, which validates the rule).
    return AppointmentSeries.objects.create(
        clinic=clinic, patient=patient, clinician=clinician_of(clinic), kind="psychiatry", rrule=rrule,
        starts_on=datetime.date(2026, 11, 2), local_start_time=datetime.time(9), duration_minutes=30,
        time_zone="UTC",
    )  # fmt: skip


def test_a_broken_series_of_one_clinic_leaves_every_other_clinics_series_extended(
    db: None, caplog: pytest.LogCaptureFixture
) -> None:
    broken = ClinicFactory.create(time_zone="UTC")
    healthy = ClinicFactory.create(time_zone="UTC")
    broken_patient = PatientFactory.create(clinic=broken)
    _series(broken, broken_patient, rrule="FREQ=DAILY")  # stored first: the old loop met it first
    fine = [_series(healthy, PatientFactory.create(clinic=healthy)) for _ in range(3)]

    with (
        time_machine.travel(datetime.datetime(2026, 11, 1, 12, tzinfo=datetime.UTC), tick=False),
        caplog.at_level(logging.INFO),
        pytest.raises(ClinicsFailed) as failed,
    ):
        series_materialize_all()

    assert failed.value.clinic_ids == [broken.pk]
    assert str(broken.pk) in str(failed.value)
    # A result backend stores the exception's arguments and rebuilds it from them.
    assert str(ClinicsFailed(*failed.value.args)) == str(failed.value)
    for series in fine:
        assert Appointment.objects.filter(series=series).count() == 13
    _assert_logged_without_phi(caplog, "series_materialize_all", broken, broken_patient)
    (line,) = _failure_lines(caplog, "series_materialize_all")
    assert "ValidationError" in line
    assert "WEEKLY" not in line  # the exception's message stays out


def test_a_clinic_the_rules_cannot_run_on_leaves_every_other_clinics_flags_raised(
    db: None, caplog: pytest.LogCaptureFixture
) -> None:
    broken = ClinicFactory.create(time_zone="UTC")
    healthy = ClinicFactory.create(time_zone="UTC")
    long_ago = NOW.date() - datetime.timedelta(days=60)
    broken_patient = PatientFactory.create(clinic=broken, intake_date=long_ago)
    lost = PatientFactory.create(clinic=healthy, intake_date=long_ago)  # no contact for 60 days
    _zone_removed_from_tzdata(broken)

    with (
        time_machine.travel(NOW, tick=False),
        caplog.at_level(logging.INFO),
        pytest.raises(ClinicsFailed) as failed,
    ):
        risk_sweep()

    assert failed.value.clinic_ids == [broken.pk]
    assert list(RiskFlag.objects.filter(patient=lost).values_list("rule", "severity")) == [
        (RiskRule.NO_CONTACT, "high")
    ]
    assert not RiskFlag.objects.filter(patient=broken_patient).exists()
    _assert_logged_without_phi(caplog, "risk_sweep", broken, broken_patient)


def test_a_clinic_whose_digest_cannot_be_worked_out_leaves_every_other_clinics_digests_sent(
    db: None, caplog: pytest.LogCaptureFixture
) -> None:
    # "Aaa" sorts first by name: the order the old loop took the clinics in.
    broken = ClinicFactory.create(name="Aaa Lakeside", time_zone="America/Chicago")
    healthy = ClinicFactory.create(name="Zzz Lakeside", time_zone="America/Chicago")
    MembershipFactory.create(clinic=broken, role=Role.CLINICIAN)
    broken_patient = PatientFactory.create(clinic=broken)
    staff = MembershipFactory.create(clinic=healthy, role=Role.CLINICIAN).user
    _zone_removed_from_tzdata(broken)
    assert NOW.astimezone(zoneinfo.ZoneInfo("America/Chicago")).hour == 7

    with (
        time_machine.travel(NOW, tick=False),
        caplog.at_level(logging.INFO),
        pytest.raises(ClinicsFailed) as failed,
    ):
        digests_send()

    assert failed.value.clinic_ids == [broken.pk]
    assert failed.value.results == {healthy.pk: 1}
    assert [message.to for message in mail.outbox] == [[staff.email]]
    _assert_logged_without_phi(caplog, "digests_send", broken, broken_patient)
    (line,) = _failure_lines(caplog, "digests_send")
    assert "ZoneInfoNotFoundError" in line
    assert "Mars" not in line
