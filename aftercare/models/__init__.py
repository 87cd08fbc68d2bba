from aftercare.models.appointments import Appointment, AppointmentSeries, AttendanceRecord
from aftercare.models.choices import (
    CANCELLED_STATUSES,
    OUTCOME_STATUSES,
    ActivityKind,
    AttendanceStatus,
    FrequencyPeriod,
    GroupAttendanceStatus,
    Medication,
    OutsideMeetingKind,
    PlanStatus,
    SupportGroupKind,
    TriggerCategory,
    WellnessKind,
)
from aftercare.models.groups import GroupAttendance, GroupMembership, GroupSession, OutsideMeeting, SupportGroup
from aftercare.models.plans import AftercarePlan, PlanActivity
from aftercare.models.reminders import DigestSent, Reminder, ReminderKind, ReminderStatus

__all__ = [
    "CANCELLED_STATUSES",
    "OUTCOME_STATUSES",
    "ActivityKind",
    "AftercarePlan",
    "Appointment",
    "AppointmentSeries",
    "AttendanceRecord",
    "AttendanceStatus",
    "DigestSent",
    "FrequencyPeriod",
    "GroupAttendance",
    "GroupAttendanceStatus",
    "GroupMembership",
    "GroupSession",
    "Medication",
    "OutsideMeeting",
    "OutsideMeetingKind",
    "PlanActivity",
    "PlanStatus",
    "Reminder",
    "ReminderKind",
    "ReminderStatus",
    "SupportGroup",
    "SupportGroupKind",
    "TriggerCategory",
    "WellnessKind",
]
