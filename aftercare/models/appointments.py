"""Appointments, recurring series, and the history of what was recorded about attendance."""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models

from aftercare.models.choices import CANCELLED_STATUSES, ActivityKind, AttendanceStatus
from aftercare.models.plans import PlanActivity
from aftercare.models.summary import APPOINTMENT_COUNTED_SQL, refresh_triggers
from clinic.models import Clinic, IntegrationClient, Patient, TimeStampedModel
from clinic.models.history import tracked
from clinic.privacy import validate_patient_visible

_FREE_STATUSES_SQL = ", ".join(f"'{status}'" for status in sorted(CANCELLED_STATUSES))

# A clinician is never booked twice at once. An exclusion constraint would need btree_gist, which
# the embedded PostgreSQL lacks, so a trigger does it: the advisory lock serialises bookings per
# clinician, and the check then sees every committed booking (a fresh snapshot per statement).
NO_DOUBLE_BOOKING = pgtrigger.Trigger(
    name="clinician_not_double_booked",
    when=pgtrigger.Before,
    operation=pgtrigger.Insert | pgtrigger.UpdateOf("clinician_id", "starts_at", "ends_at", "attendance_status"),  # type: ignore[no-untyped-call]
    func=f"""
        IF NEW.attendance_status IN ({_FREE_STATUSES_SQL}) THEN
            RETURN NEW;
        END IF;
        PERFORM pg_advisory_xact_lock(hashtextextended('aftercare.clinician:' || NEW.clinician_id::text, 0));
        IF EXISTS (
            SELECT 1 FROM aftercare_appointment other
            WHERE other.clinician_id = NEW.clinician_id
              AND other.id <> NEW.id
              AND other.attendance_status NOT IN ({_FREE_STATUSES_SQL})
              AND other.starts_at < NEW.ends_at
              AND other.ends_at > NEW.starts_at
        ) THEN
            RAISE EXCEPTION USING ERRCODE = 'exclusion_violation',
                MESSAGE = 'appointment_clinician_overlap';
        END IF;
        RETURN NEW;
    """,  # noqa: S608 (built from this module's constants only)
)


@tracked
class AppointmentSeries(TimeStampedModel):
    """A weekly rule at a local wall-clock time; appointments are materialised over a horizon.

    `rrule` is an RFC 5545 RRULE without DTSTART (FREQ=WEEKLY with INTERVAL, BYDAY, COUNT or
    UNTIL). It is expanded on local dates in `time_zone`, so 18:00 stays 18:00 across DST.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointment_series")
    clinician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    activity = models.ForeignKey(PlanActivity, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    kind = models.CharField(max_length=30, choices=ActivityKind.choices)
    rrule = models.CharField(max_length=300)
    starts_on = models.DateField()
    local_start_time = models.TimeField()
    duration_minutes = models.PositiveSmallIntegerField()
    time_zone = models.CharField(max_length=64)
    location = models.CharField(max_length=200, blank=True, validators=[validate_patient_visible])
    telehealth_url = models.URLField(blank=True, validators=[validate_patient_visible])
    ended_on = models.DateField(null=True, blank=True, help_text="No occurrences after this date.")
    materialized_until = models.DateField(null=True, blank=True)
    skipped_dates = models.JSONField(
        default=list, blank=True, help_text="Occurrence dates not booked because the clinician was busy."
    )

    class Meta(TimeStampedModel.Meta):
        constraints = [
            models.CheckConstraint(condition=models.Q(duration_minutes__gte=5), name="series_duration_min"),
        ]
        indexes = [
            models.Index(fields=["clinic", "created_at", "id"], name="series_clinic_created"),
            models.Index(fields=["clinic", "updated_at"], name="series_clinic_updated"),
        ]

    def __str__(self) -> str:
        return f"Series {self.pk}"


@tracked
class Appointment(TimeStampedModel):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointments")
    clinician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    activity = models.ForeignKey(PlanActivity, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    kind = models.CharField(max_length=30, choices=ActivityKind.choices)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    location = models.CharField(max_length=200, blank=True, validators=[validate_patient_visible])
    telehealth_url = models.URLField(blank=True, validators=[validate_patient_visible])
    series = models.ForeignKey(
        AppointmentSeries, on_delete=models.PROTECT, null=True, blank=True, related_name="appointments"
    )
    occurrence_date = models.DateField(null=True, blank=True, help_text="The series date this occurrence is for.")
    detached = models.BooleanField(default=False, help_text="Moved or cancelled on its own: series edits skip it.")
    attendance_status = models.CharField(
        max_length=20, choices=AttendanceStatus.choices, default=AttendanceStatus.SCHEDULED
    )
    attendance_recorded_at = models.DateTimeField(null=True, blank=True)
    attendance_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    attendance_recorded_by_client = models.ForeignKey(
        IntegrationClient, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Arrival (check-in at the front desk) is not attendance: an arrived patient is still marked
    # attended or late afterwards.
    arrived_at = models.DateTimeField(null=True, blank=True, help_text="When the patient checked in.")
    arrived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta(TimeStampedModel.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="appointment_ends_after_start"
            ),
            models.CheckConstraint(
                condition=models.Q(attendance_status__in=AttendanceStatus.values), name="appointment_status_valid"
            ),
            models.CheckConstraint(condition=models.Q(kind__in=ActivityKind.values), name="appointment_kind_valid"),
            models.UniqueConstraint(
                fields=["series", "occurrence_date"],
                condition=models.Q(series__isnull=False),
                name="appointment_one_per_series_date",
            ),
        ]
        indexes = [
            models.Index(fields=["clinic", "created_at", "id"], name="appointment_clinic_created"),
            models.Index(fields=["clinic", "updated_at"], name="appointment_clinic_updated"),
            models.Index(fields=["clinic", "starts_at"], name="appointment_clinic_starts"),
            models.Index(fields=["patient", "starts_at"], name="appointment_patient_starts"),
            models.Index(fields=["clinician", "starts_at"], name="appointment_clinician_starts"),
        ]
        triggers = [
            *TimeStampedModel.Meta.triggers,
            NO_DOUBLE_BOOKING,
            *refresh_triggers(
                "appointment",
                "attendance_status",
                APPOINTMENT_COUNTED_SQL,
                ("attendance_status", "starts_at", "kind", "patient_id"),
            ),
        ]

    def __str__(self) -> str:
        return f"Appointment {self.pk}"


class AttendanceRecord(models.Model):
    """Every attendance status ever recorded for an appointment, with who and why: a correction
    adds a row, it never overwrites one."""

    appointment = models.ForeignKey(Appointment, on_delete=models.PROTECT, related_name="attendance_history")
    status = models.CharField(max_length=20, choices=AttendanceStatus.choices)
    previous_status = models.CharField(max_length=20, choices=AttendanceStatus.choices)
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_by_client = models.ForeignKey(
        IntegrationClient, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["recorded_at", "id"]
        indexes = [models.Index(fields=["appointment", "recorded_at"], name="attendance_record_appointment")]
        triggers = [
            pgtrigger.Protect(name="attendance_history_append_only", operation=pgtrigger.Update | pgtrigger.Delete)
        ]

    def __str__(self) -> str:
        return f"Attendance record {self.pk}"
