"""Support groups run by or known to the clinic, their sessions and who came."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from aftercare.models.choices import GroupAttendanceStatus, OutsideMeetingKind, SupportGroupKind
from aftercare.models.summary import GROUP_COUNTED_SQL, GROUP_SESSION_TRIGGERS, refresh_triggers
from clinic.models import Clinic, IntegrationClient, Patient, TimeStampedModel
from clinic.models.history import tracked
from clinic.privacy import validate_patient_visible


@tracked
class SupportGroup(TimeStampedModel):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=SupportGroupKind.choices)
    facilitator = models.CharField(max_length=200, blank=True)
    location = models.CharField(max_length=200, blank=True, validators=[validate_patient_visible])
    is_active = models.BooleanField(default=True)

    class Meta(TimeStampedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["clinic", "name"], name="support_group_name_unique")]
        indexes = [
            models.Index(fields=["clinic", "created_at", "id"], name="group_clinic_created"),
            models.Index(fields=["clinic", "updated_at"], name="group_clinic_updated"),
        ]

    def __str__(self) -> str:
        return self.name


@tracked
class GroupMembership(TimeStampedModel):
    group = models.ForeignKey(SupportGroup, on_delete=models.PROTECT, related_name="memberships")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="group_memberships")
    joined_on = models.DateField()
    left_on = models.DateField(null=True, blank=True)

    class Meta(TimeStampedModel.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["group", "patient"], condition=models.Q(left_on__isnull=True), name="group_membership_one_open"
            ),
            models.CheckConstraint(
                condition=models.Q(left_on__isnull=True) | models.Q(left_on__gte=models.F("joined_on")),
                name="group_membership_left_after_joined",
            ),
        ]

    def __str__(self) -> str:
        return f"Membership {self.pk}"


@tracked
class GroupSession(TimeStampedModel):
    group = models.ForeignKey(SupportGroup, on_delete=models.PROTECT, related_name="sessions")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    location = models.CharField(max_length=200, blank=True, validators=[validate_patient_visible])
    cancelled = models.BooleanField(default=False)

    class Meta(TimeStampedModel.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="session_ends_after_start"
            )
        ]
        indexes = [
            models.Index(fields=["group", "starts_at"], name="session_group_starts"),
            models.Index(fields=["created_at", "id"], name="session_created"),
            models.Index(fields=["updated_at"], name="session_updated"),
        ]
        triggers = [*TimeStampedModel.Meta.triggers, *GROUP_SESSION_TRIGGERS]

    def __str__(self) -> str:
        return f"Session {self.pk}"


@tracked
class GroupAttendance(TimeStampedModel):
    session = models.ForeignKey(GroupSession, on_delete=models.PROTECT, related_name="attendance")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="group_attendance")
    status = models.CharField(max_length=20, choices=GroupAttendanceStatus.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_by_client = models.ForeignKey(
        IntegrationClient, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(blank=True, help_text="Why the recorded status was last corrected (kept in the history).")

    class Meta(TimeStampedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["session", "patient"], name="group_attendance_one_per_session")]
        indexes = [models.Index(fields=["patient", "session"], name="group_attendance_patient")]
        triggers = [
            *TimeStampedModel.Meta.triggers,
            *refresh_triggers("groupattendance", "status", GROUP_COUNTED_SQL, ("status", "session_id", "patient_id")),
        ]

    def __str__(self) -> str:
        return f"Group attendance {self.pk}"


@tracked
class OutsideMeeting(TimeStampedModel):
    """A meeting outside the clinic (a 12-step or SMART meeting) the patient says they went to."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="outside_meetings")
    kind = models.CharField(max_length=20, choices=OutsideMeetingKind.choices)
    date = models.DateField()
    note = models.TextField(blank=True)

    class Meta(TimeStampedModel.Meta):
        indexes = [
            models.Index(fields=["clinic", "created_at", "id"], name="outside_meeting_clinic_created"),
            models.Index(fields=["patient", "date"], name="outside_meeting_patient_date"),
        ]

    def __str__(self) -> str:
        return f"Outside meeting {self.pk}"
