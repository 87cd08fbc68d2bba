"""Recurring appointments: a weekly rule at a local wall-clock time, materialised as appointments.

The rule is expanded on naive local date-times and each occurrence is then placed in the series'
zone, so a session at 18:00 in New York is at 18:00 local on both sides of every DST change (its
UTC instant moves by an hour instead). A local time that does not exist on a spring-forward day
moves forward by the gap, as a wall clock does.
"""

from __future__ import annotations

import datetime
import logging
import re
import zoneinfo
from typing import Any

from dateutil import rrule as dateutil_rrule
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from aftercare.models import Appointment, AppointmentSeries, AttendanceStatus
from aftercare.services.appointments import overlapping, save_checked
from aftercare.services.reminders import reminders_sync_appointment
from clinic.auth.caller import Caller
from clinic.batch import clinics_each
from clinic.models import Clinic

logger = logging.getLogger(__name__)

HORIZON_DAYS = 90
SERIES_FIELDS = (
    "patient",
    "clinician",
    "activity",
    "kind",
    "rrule",
    "starts_on",
    "local_start_time",
    "duration_minutes",
    "time_zone",
    "location",
    "telehealth_url",
)
# What editing a series may change: it applies to occurrences from now on.
EDITABLE_FIELDS = ("clinician", "rrule", "local_start_time", "duration_minutes", "location", "telehealth_url")
_ALLOWED_PARTS = {"FREQ", "INTERVAL", "BYDAY", "COUNT", "UNTIL", "WKST"}
_MAX_INTERVAL = 8
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# ASCII digits only: `str.isdigit()` also takes `²` (which `int()` refuses) and `int()` takes
# Arabic-Indic or full-width digits, which no calendar means.
_NUMBER = re.compile(r"[0-9]{1,3}")
_UNTIL = re.compile(r"[0-9]{8}(T[0-9]{6}Z)?")


def parse_rrule(text: str) -> dict[str, str]:
    """Validate a weekly RRULE (RFC 5545, without DTSTART) and return its parts."""
    text = text.strip().removeprefix("RRULE:")
    parts: dict[str, str] = {}
    for piece in filter(None, text.split(";")):
        name, _, value = piece.partition("=")
        name = name.strip().upper()
        if not value or name in parts:
            raise ValidationError({"rrule": f"Malformed part {piece!r}."})
        if name not in _ALLOWED_PARTS:
            raise ValidationError(
                {"rrule": f"{name} is not supported: use FREQ=WEEKLY with INTERVAL, BYDAY, COUNT or UNTIL."}
            )
        parts[name] = value.strip().upper()
    if parts.get("FREQ") != "WEEKLY":
        raise ValidationError({"rrule": "Only weekly rules are supported (FREQ=WEEKLY)."})
    if "COUNT" in parts and "UNTIL" in parts:
        raise ValidationError({"rrule": "Give COUNT or UNTIL, not both."})
    interval = parts.get("INTERVAL", "1")
    if not _NUMBER.fullmatch(interval) or not 1 <= int(interval) <= _MAX_INTERVAL:
        raise ValidationError({"rrule": f"INTERVAL is a whole number from 1 to {_MAX_INTERVAL}."})
    if "COUNT" in parts and (not _NUMBER.fullmatch(parts["COUNT"]) or not 1 <= int(parts["COUNT"]) <= 520):
        raise ValidationError({"rrule": "COUNT is a whole number from 1 to 520."})
    days = parts.get("BYDAY", "").split(",") if "BYDAY" in parts else []
    if any(day not in _WEEKDAYS for day in days):
        raise ValidationError({"rrule": "BYDAY lists weekdays: MO, TU, WE, TH, FR, SA, SU."})
    if parts.get("WKST", "MO") not in _WEEKDAYS:
        raise ValidationError({"rrule": "WKST is a weekday: MO, TU, WE, TH, FR, SA, SU."})
    if "UNTIL" in parts:
        try:
            if not _UNTIL.fullmatch(parts["UNTIL"]):
                raise ValueError(parts["UNTIL"])
            _until(parts["UNTIL"])
        except ValueError:
            raise ValidationError({"rrule": "UNTIL is a date (YYYYMMDD) or a UTC time (YYYYMMDDTHHMMSSZ)."}) from None
    return parts


def _until(value: str) -> datetime.date:
    if len(value) == 8:
        return datetime.datetime.strptime(value, "%Y%m%d").date()  # noqa: DTZ007 (a calendar date)
    return datetime.datetime.strptime(value, "%Y%m%dT%H%M%SZ").date()  # noqa: DTZ007 (UTC, date taken)


def occurrences(
    series: AppointmentSeries, first: datetime.date, last: datetime.date
) -> list[tuple[datetime.date, datetime.datetime]]:
    """(local date, UTC start) of every occurrence from `first` to `last` inclusive."""
    parts = parse_rrule(series.rrule)
    zone = zoneinfo.ZoneInfo(series.time_zone)
    start = datetime.datetime.combine(series.starts_on, series.local_start_time)  # naive local wall clock
    rule = dateutil_rrule.rrule(
        dateutil_rrule.WEEKLY,
        dtstart=start,
        interval=int(parts.get("INTERVAL", "1")),
        count=int(parts["COUNT"]) if "COUNT" in parts else None,
        until=datetime.datetime.combine(_until(parts["UNTIL"]), datetime.time.max) if "UNTIL" in parts else None,
        byweekday=[getattr(dateutil_rrule, day) for day in parts["BYDAY"].split(",")] if "BYDAY" in parts else None,
        wkst=getattr(dateutil_rrule, parts["WKST"]) if "WKST" in parts else None,
    )
    if series.ended_on is not None:
        last = min(last, series.ended_on)
    window_start = datetime.datetime.combine(first, datetime.time.min)
    window_end = datetime.datetime.combine(last, datetime.time.max)
    result = []
    for local in rule.between(window_start, window_end, inc=True):
        # Through UTC and back: a wall-clock time inside a spring-forward gap becomes real.
        instant = local.replace(tzinfo=zone).astimezone(datetime.UTC)
        result.append((local.date(), instant))
    return result


def _validate(series: AppointmentSeries) -> None:
    parse_rrule(series.rrule)
    if series.time_zone not in zoneinfo.available_timezones():
        raise ValidationError({"time_zone": f"{series.time_zone!r} is not an IANA time zone."})
    activity = series.activity
    if activity is not None and activity.plan.patient_id != series.patient_id:
        raise ValidationError({"activity": "This activity belongs to another patient's plan."})
    series.full_clean(exclude=["clinic", "patient", "clinician", "activity"])


@transaction.atomic
def series_materialize(*, series: AppointmentSeries, today: datetime.date | None = None) -> int:
    """Book the occurrences up to the horizon that are not booked yet. Idempotent. Returns how many
    were booked; an occurrence whose clinician is busy is skipped and listed on the series."""
    locked = AppointmentSeries.objects.select_for_update().get(pk=series.pk)
    zone = zoneinfo.ZoneInfo(locked.time_zone)
    today = today or timezone.localdate(timezone=zone)
    horizon = today + datetime.timedelta(days=HORIZON_DAYS)
    first = (
        max(locked.starts_on, locked.materialized_until + datetime.timedelta(days=1))
        if locked.materialized_until
        else locked.starts_on
    )
    first = max(first, today)
    booked = set(
        Appointment.objects.filter(series=locked, occurrence_date__gte=first).values_list("occurrence_date", flat=True)
    )
    duration = datetime.timedelta(minutes=locked.duration_minutes)
    created = 0
    skipped = list(locked.skipped_dates)
    for local_date, starts_at in occurrences(locked, first, horizon):
        if local_date in booked:
            continue
        appointment = Appointment(
            clinic_id=locked.clinic_id,
            patient_id=locked.patient_id,
            clinician_id=locked.clinician_id,
            activity_id=locked.activity_id,
            kind=locked.kind,
            starts_at=starts_at,
            ends_at=starts_at + duration,
            location=locked.location,
            telehealth_url=locked.telehealth_url,
            series=locked,
            occurrence_date=local_date,
        )
        if overlapping(appointment):
            skipped.append(local_date.isoformat())
            continue
        try:
            save_checked(appointment, force_insert=True)
        except ValidationError:
            skipped.append(local_date.isoformat())
            continue
        reminders_sync_appointment(appointment=appointment)
        created += 1
    locked.materialized_until = horizon
    locked.skipped_dates = sorted(set(skipped))
    locked.save(update_fields=["materialized_until", "skipped_dates", "updated_at"])
    return created


def _drop_future_occurrences(series: AppointmentSeries, after: datetime.datetime) -> None:
    """Occurrences not yet started, nothing recorded, not edited on their own: they follow the series."""
    Appointment.objects.filter(
        series=series, starts_at__gt=after, detached=False, attendance_status=AttendanceStatus.SCHEDULED
    ).delete()


@transaction.atomic
def series_create(*, by: Caller, **fields: Any) -> AppointmentSeries:
    unknown = set(fields) - set(SERIES_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "This field cannot be set."))
    fields.setdefault("time_zone", by.clinic.time_zone)
    series = AppointmentSeries(clinic=by.clinic, **fields)
    _validate(series)
    series.save(force_insert=True)
    series_materialize(series=series)
    series.refresh_from_db()
    return series


@transaction.atomic
def series_update(
    *, series: AppointmentSeries, now: datetime.datetime | None = None, **fields: Any
) -> AppointmentSeries:
    """Change the rule or its details for every occurrence from now on; past ones stay as they were."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "Cannot be changed on an existing series."))
    now = now or timezone.now()
    locked = AppointmentSeries.objects.select_for_update().get(pk=series.pk)
    for name, value in fields.items():
        setattr(locked, name, value)
    _validate(locked)
    _drop_future_occurrences(locked, now)
    locked.materialized_until = None
    locked.skipped_dates = [day for day in locked.skipped_dates if day < now.date().isoformat()]
    locked.save()
    series_materialize(series=locked)
    locked.refresh_from_db()
    return locked


@transaction.atomic
def series_end(
    *, series: AppointmentSeries, ended_on: datetime.date, now: datetime.datetime | None = None
) -> AppointmentSeries:
    now = now or timezone.now()
    locked = AppointmentSeries.objects.select_for_update().get(pk=series.pk)
    if ended_on < locked.starts_on:
        raise ValidationError({"ended_on": "Must not be before the series starts."})
    locked.ended_on = ended_on
    locked.save(update_fields=["ended_on", "updated_at"])
    end_of_day = datetime.datetime.combine(ended_on, datetime.time.max, tzinfo=zoneinfo.ZoneInfo(locked.time_zone))
    _drop_future_occurrences(locked, max(now, end_of_day))
    return locked


def series_materialize_all(*, today: datetime.date | None = None) -> int:
    """The periodic task's work: extend every open series to the horizon, clinic by clinic (a
    clinic whose series cannot be extended fails the task after every other clinic's are)."""

    def materialize(clinic: Clinic) -> int:
        return sum(
            series_materialize(series=AppointmentSeries(pk=series_id), today=today)
            for series_id in AppointmentSeries.objects.filter(clinic=clinic).order_by("pk").values_list("pk", flat=True)
        )

    booked = clinics_each(
        job="series_materialize_all", clinics=Clinic.objects.filter(is_active=True).order_by("pk"), work=materialize
    )
    total = sum(booked.values())
    logger.info("series_materialize_all: booked %d occurrences", total)
    return total
