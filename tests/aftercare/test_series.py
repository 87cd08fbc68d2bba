"""Weekly series at a local wall-clock time: right across DST, editable from now on."""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Any

import pytest
import time_machine
from hypothesis import given, settings
from hypothesis import strategies as st

from aftercare.models import Appointment, AppointmentSeries, AttendanceStatus
from aftercare.services.series import occurrences, parse_rrule, series_materialize
from tests.conftest import Persona

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def _series(**fields: Any) -> AppointmentSeries:
    defaults: dict[str, Any] = {
        "rrule": "FREQ=WEEKLY;BYDAY=TU",
        "starts_on": datetime.date(2026, 1, 6),
        "local_start_time": datetime.time(18, 0),
        "duration_minutes": 50,
        "time_zone": "America/New_York",
    }
    return AppointmentSeries(**{**defaults, **fields})


def test_a_weekly_1800_new_york_series_stays_at_1800_across_both_dst_changes() -> None:
    series = _series()
    # 2026: DST starts Sunday 8 March, ends Sunday 1 November.
    found = occurrences(series, datetime.date(2026, 2, 24), datetime.date(2026, 11, 10))
    local = [(day, instant.astimezone(NEW_YORK)) for day, instant in found]
    assert all(moment.time() == datetime.time(18, 0) for _, moment in local)
    assert all(moment.weekday() == 1 for _, moment in local)
    by_day = dict(found)
    assert by_day[datetime.date(2026, 3, 3)].hour == 23  # EST: UTC-5
    assert by_day[datetime.date(2026, 3, 10)].hour == 22  # EDT: UTC-4
    assert by_day[datetime.date(2026, 10, 27)].hour == 22
    assert by_day[datetime.date(2026, 11, 3)].hour == 23
    days = [day for day, _ in found]
    assert len(days) == len(set(days)) == 38  # 24 Feb to 10 Nov: 37 weeks apart, both ends included


def test_a_time_inside_the_spring_forward_gap_moves_forward_like_a_wall_clock() -> None:
    series = _series(
        rrule="FREQ=WEEKLY;BYDAY=SU", starts_on=datetime.date(2026, 3, 1), local_start_time=datetime.time(2, 30)
    )
    found = dict(occurrences(series, datetime.date(2026, 3, 1), datetime.date(2026, 3, 15)))
    assert found[datetime.date(2026, 3, 8)].astimezone(NEW_YORK).time() == datetime.time(3, 30)
    assert found[datetime.date(2026, 3, 15)].astimezone(NEW_YORK).time() == datetime.time(2, 30)


WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
ZONES = sorted(
    zone for zone in zoneinfo.available_timezones() if "/" in zone and not zone.startswith(("Etc/", "SystemV/"))
)


@settings(max_examples=150, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    first=st.dates(min_value=datetime.date(2020, 1, 1), max_value=datetime.date(2035, 12, 31)),
    days=st.sets(st.sampled_from(WEEKDAYS), min_size=1, max_size=7),
    interval=st.integers(min_value=1, max_value=4),
    at=st.times(),
    weeks=st.integers(min_value=1, max_value=60),
)
def test_no_occurrence_is_duplicated_or_missing_in_any_zone(
    zone: str, first: datetime.date, days: set[str], interval: int, at: datetime.time, weeks: int
) -> None:
    series = _series(
        rrule=f"FREQ=WEEKLY;INTERVAL={interval};BYDAY={','.join(sorted(days))};WKST=MO",
        starts_on=first,
        local_start_time=at.replace(microsecond=0),
        time_zone=zone,
    )
    last = first + datetime.timedelta(weeks=weeks)
    found = occurrences(series, first, last)
    # Expected from the calendar alone: every chosen weekday in every interval-th week (weeks
    # counted from the Monday of the first date's week), from the first date to the last.
    week_zero = first - datetime.timedelta(days=first.weekday())
    expected = [
        first + datetime.timedelta(days=offset)
        for offset in range((last - first).days + 1)
        if WEEKDAYS[(first + datetime.timedelta(days=offset)).weekday()] in days
        and ((first + datetime.timedelta(days=offset) - week_zero).days // 7) % interval == 0
    ]
    assert [day for day, _ in found] == expected
    instants = [instant for _, instant in found]
    assert instants == sorted(set(instants))
    tz = zoneinfo.ZoneInfo(zone)
    for day, instant in found:
        local = instant.astimezone(tz)
        # On the right local day, at the wall-clock time (shifted only inside a DST gap).
        assert local.date() == day or local.date() == day + datetime.timedelta(days=1)
        if local.replace(tzinfo=None) == datetime.datetime.combine(day, series.local_start_time):
            continue
        naive = datetime.datetime.combine(day, series.local_start_time)
        round_trip = naive.replace(tzinfo=tz).astimezone(datetime.UTC).astimezone(tz).replace(tzinfo=None)
        assert round_trip != naive, "moved although the wall-clock time exists"


@pytest.mark.parametrize(
    ("rule", "field_message"),
    [
        ("FREQ=DAILY", "weekly"),
        ("FREQ=WEEKLY;BYHOUR=9", "BYHOUR"),
        ("FREQ=WEEKLY;COUNT=3;UNTIL=20270101", "COUNT or UNTIL"),
        ("FREQ=WEEKLY;INTERVAL=0", "INTERVAL"),
        ("FREQ=WEEKLY;BYDAY=XX", "BYDAY"),
        ("FREQ=WEEKLY;UNTIL=tomorrow", "UNTIL"),
        ("garbage", "Malformed"),
    ],
)
def test_a_bad_rule_is_refused_naming_rrule(rule: str, field_message: str) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        parse_rrule(rule)
    assert field_message in " ".join(caught.value.message_dict["rrule"])


def _create(persona: Persona, clinician: Any, patient: Any, **overrides: Any) -> Any:
    body = {
        "patient": str(patient.pk),
        "clinician": str(clinician.pk),
        "kind": "individual_therapy",
        "rrule": "FREQ=WEEKLY;BYDAY=TU",
        "starts_on": "2026-11-03",
        "local_start_time": "18:00",
        "duration_minutes": 50,
        **overrides,
    }
    return persona.api.post("/api/v1/appointment-series/", body)


NOW = datetime.datetime(2026, 11, 2, 15, 0, tzinfo=datetime.UTC)


@pytest.fixture
def booked(ehr_a: Persona, make_staff: Any) -> dict[str, Any]:
    from tests.factories import PatientFactory

    clinician = make_staff(ehr_a.clinic).user
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    with time_machine.travel(NOW, tick=False):
        response = _create(ehr_a, clinician, patient)
    assert response.status_code == 201, response.json()
    return {"series": response.json(), "clinician": clinician, "patient": patient}


def test_a_series_is_booked_ninety_days_ahead_and_extending_it_twice_books_nothing_twice(
    booked: dict[str, Any],
) -> None:
    series = AppointmentSeries.objects.get(pk=booked["series"]["id"])
    count = series.appointments.count()
    assert count == 13  # Tuesdays from 3 Nov 2026 to 31 Jan 2027 (horizon 90 days from 2 Nov)
    with time_machine.travel(NOW, tick=False):
        assert series_materialize(series=series) == 0
    with time_machine.travel(NOW + datetime.timedelta(days=14), tick=False):
        assert series_materialize(series=series) == 2
    assert series.appointments.count() == 15
    assert series.appointments.values("occurrence_date").distinct().count() == 15


def test_editing_a_series_changes_only_future_occurrences(ehr_a: Persona, booked: dict[str, Any]) -> None:
    series_id = booked["series"]["id"]
    series = AppointmentSeries.objects.get(pk=series_id)
    past = series.appointments.order_by("starts_at")[:2]
    past_ids = [a.pk for a in past]
    with time_machine.travel(NOW + datetime.timedelta(days=10), tick=False):
        Appointment.objects.filter(pk=past_ids[0]).update(attendance_status=AttendanceStatus.ATTENDED)
        response = ehr_a.api.patch(f"/api/v1/appointment-series/{series_id}/", {"local_start_time": "17:00"})
        assert response.status_code == 200, response.json()
    zone = zoneinfo.ZoneInfo("America/Chicago")
    kept = Appointment.objects.filter(pk__in=past_ids).order_by("starts_at")
    assert [a.starts_at.astimezone(zone).time() for a in kept] == [datetime.time(18, 0)] * 2
    future = series.appointments.filter(starts_at__gt=NOW + datetime.timedelta(days=10))
    assert future.exists()
    assert {a.starts_at.astimezone(zone).time() for a in future} == {datetime.time(17, 0)}


def test_one_occurrence_moved_on_its_own_survives_a_series_edit(ehr_a: Persona, booked: dict[str, Any]) -> None:
    series_id = booked["series"]["id"]
    target = Appointment.objects.filter(series_id=series_id).order_by("starts_at")[3]
    with time_machine.travel(NOW, tick=False):
        moved = ehr_a.api.patch(
            f"/api/v1/appointments/{target.pk}/",
            {"starts_at": "2026-11-25T15:00:00Z", "ends_at": "2026-11-25T15:50:00Z"},
        )
        assert moved.status_code == 200, moved.json()
        assert moved.json()["detached"] is True
        cancelled = Appointment.objects.filter(series_id=series_id).order_by("starts_at")[5]
        assert (
            ehr_a.api.post(f"/api/v1/appointments/{cancelled.pk}/attendance/", {"status": "cancelled"}).status_code
            == 200
        )
        assert ehr_a.api.patch(f"/api/v1/appointment-series/{series_id}/", {"duration_minutes": 30}).status_code == 200
    target.refresh_from_db()
    assert target.starts_at == datetime.datetime(2026, 11, 25, 15, 0, tzinfo=datetime.UTC)
    assert target.ends_at - target.starts_at == datetime.timedelta(minutes=50)
    assert Appointment.objects.get(pk=cancelled.pk).attendance_status == AttendanceStatus.CANCELLED
    # The moved occurrence keeps its date: the series does not book that Tuesday again.
    assert Appointment.objects.filter(series_id=series_id, occurrence_date=target.occurrence_date).count() == 1


def test_ending_a_series_removes_its_later_occurrences(ehr_a: Persona, booked: dict[str, Any]) -> None:
    series_id = booked["series"]["id"]
    with time_machine.travel(NOW, tick=False):
        ended = ehr_a.api.post(f"/api/v1/appointment-series/{series_id}/end/", {"ended_on": "2026-11-20"})
    assert ended.status_code == 200, ended.json()
    dates = sorted(
        day for day in Appointment.objects.filter(series_id=series_id).values_list("occurrence_date", flat=True) if day
    )
    assert dates == [datetime.date(2026, 11, 3), datetime.date(2026, 11, 10), datetime.date(2026, 11, 17)]


def test_an_occurrence_that_would_double_book_is_skipped_and_listed(ehr_a: Persona, make_staff: Any) -> None:
    from tests.aftercare.factories import AppointmentFactory
    from tests.factories import PatientFactory

    clinician = make_staff(ehr_a.clinic).user
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    busy = datetime.datetime(2026, 11, 10, 18, 0, tzinfo=zoneinfo.ZoneInfo("America/Chicago"))
    AppointmentFactory.create(
        clinic=ehr_a.clinic, clinician=clinician, starts_at=busy, ends_at=busy + datetime.timedelta(hours=1)
    )
    with time_machine.travel(NOW, tick=False):
        response = _create(ehr_a, clinician, patient, rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=3")
    assert response.status_code == 201
    assert response.json()["skipped_dates"] == ["2026-11-10"]
    assert Appointment.objects.filter(series_id=response.json()["id"]).count() == 2


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"rrule": "FREQ=MONTHLY"}, "rrule"),
        ({"time_zone": "Mars/Base"}, "time_zone"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"local_start_time": "25:00"}, "local_start_time"),
        ({"starts_on": "next week"}, "starts_on"),
    ],
)
def test_a_bad_series_is_400_naming_the_field(
    ehr_a: Persona, make_staff: Any, overrides: dict[str, Any], field: str
) -> None:
    from tests.factories import PatientFactory

    response = _create(ehr_a, make_staff(ehr_a.clinic).user, PatientFactory.create(clinic=ehr_a.clinic), **overrides)
    assert response.status_code == 400
    assert {error["attr"] for error in response.json()["errors"]} == {field}
    assert not AppointmentSeries.objects.exists()
