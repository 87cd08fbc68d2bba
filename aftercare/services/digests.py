"""The morning digest: at 07:00 in each clinic's time zone, every clinician, case manager and admin
gets the day's numbers for their own caseload. Counts only: no patient is named in an email."""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import mail
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from aftercare.models import Appointment, AttendanceStatus, DigestSent
from clinic.batch import clinics_each
from clinic.models import Clinic, Patient, PatientStatus, User
from clinic.selectors.patients import care_staff_list

logger = logging.getLogger(__name__)

DIGEST_HOUR = 7


@dataclass(frozen=True)
class DigestCounts:
    sessions_today: int
    missed_yesterday: int
    caseload: int


def _day_bounds(day: datetime.date, clinic: Clinic) -> tuple[datetime.datetime, datetime.datetime]:
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=clinic.zone)
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min, tzinfo=clinic.zone)
    return start, end


def digest_counts(*, clinic: Clinic, day: datetime.date) -> dict[Any, DigestCounts]:
    """Per staff member: three aggregate queries for the whole clinic, whatever its size."""
    today_start, today_end = _day_bounds(day, clinic)
    yesterday_start, _ = _day_bounds(day - datetime.timedelta(days=1), clinic)
    today = dict(
        Appointment.objects.filter(clinic=clinic, starts_at__gte=today_start, starts_at__lt=today_end)
        .exclude(
            attendance_status__in=[
                AttendanceStatus.CANCELLED,
                AttendanceStatus.LATE_CANCELLED,
                AttendanceStatus.CANCELLED_BY_CLINIC,
            ]
        )
        .values_list("clinician_id")
        .annotate(n=Count("id"))
    )
    missed = dict(
        Appointment.objects.filter(
            clinic=clinic, starts_at__gte=yesterday_start, starts_at__lt=today_start,
            attendance_status__in=[AttendanceStatus.MISSED, AttendanceStatus.LATE_CANCELLED],
        )
        .values_list("patient__assigned_clinician_id")
        .annotate(n=Count("id"))
    )  # fmt: skip
    caseload = dict(
        Patient.objects.filter(clinic=clinic, status=PatientStatus.ACTIVE)
        .values_list("assigned_clinician_id")
        .annotate(n=Count("id"))
    )
    staff = set(today) | set(missed) | set(caseload)
    return {
        user_id: DigestCounts(today.get(user_id, 0), missed.get(user_id, 0), caseload.get(user_id, 0))
        for user_id in staff
        if user_id is not None
    }


def _message(clinic: Clinic, user: User, counts: DigestCounts, connection: Any) -> mail.EmailMultiAlternatives:
    # The flag queue in the dashboard (signed out, the sign-in page comes first, then the queue).
    link = settings.AFTERCARE_PUBLIC_URL + reverse("dashboard:flags")
    lines = [
        f"Good morning. Your day at {clinic.name}:",
        "",
        f"  Sessions on your schedule today: {counts.sessions_today}",
        f"  Missed yesterday among your patients: {counts.missed_yesterday}",
        f"  Active patients in your caseload: {counts.caseload}",
        "",
        f"Sign in for the details: {link}",
    ]
    message = mail.EmailMultiAlternatives(
        subject=(
            f"Your day at {clinic.name}: {counts.sessions_today} sessions, {counts.missed_yesterday} missed yesterday"
        ),
        body="\n".join(lines),
        to=[user.email],
        connection=connection,
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(
        format_html(
            "<p>Good morning. Your day at {}:</p><ul><li>Sessions on your schedule today: {}</li>"
            "<li>Missed yesterday among your patients: {}</li><li>Active patients in your caseload: {}</li></ul>"
            '<p><a href="{}">Sign in for the details</a></p>',
            clinic.name,
            counts.sessions_today,
            counts.missed_yesterday,
            counts.caseload,
            link,
        ),
        "text/html",
    )
    return message


def digests_send(*, now: datetime.datetime | None = None, connection: Any = None) -> int:
    """Send the digests due now (clinics where it is the 07:00 hour). Safe to run as often as
    wanted, from any number of beats: the marker row makes each digest go once a day. A clinic
    whose digests cannot be worked out fails the task after every other clinic's are sent."""
    now = now or timezone.now()
    connection = connection or mail.get_connection()

    def send(clinic: Clinic) -> int:
        return _clinic_digests_send(clinic=clinic, now=now, connection=connection)

    sent = clinics_each(job="digests_send", clinics=Clinic.objects.filter(is_active=True).order_by("pk"), work=send)
    return sum(sent.values())


def _clinic_digests_send(*, clinic: Clinic, now: datetime.datetime, connection: Any) -> int:
    local = now.astimezone(clinic.zone)
    if local.hour != DIGEST_HOUR:
        return 0
    counts = digest_counts(clinic=clinic, day=local.date())
    # Active clinical staff of this clinic only: a membership that ended (or another clinic's)
    # gets no digest.
    staff = care_staff_list(clinic=clinic).exclude(email="")
    sent = 0
    for user in staff:
        try:
            with transaction.atomic():
                DigestSent.objects.create(clinic=clinic, user=user, date=local.date())
                # Sent inside the transaction: if sending fails, the marker goes too and the
                # next run tries again.
                _message(clinic, user, counts.get(user.pk, DigestCounts(0, 0, 0)), connection).send()
        except IntegrityError:
            continue  # already sent today
        except Exception as exc:
            logger.warning("digest for a staff member of clinic %s failed: %s", clinic.pk, type(exc).__name__)
            continue
        sent += 1
    return sent
