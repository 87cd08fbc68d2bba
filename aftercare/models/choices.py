"""The domain's enumerations (DESIGN.md, "Domain"): clinic systems rely on these exact values."""

from __future__ import annotations

from django.db import models


class PlanStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    DISCONTINUED = "discontinued", "Discontinued"


# A plan is created as a draft or straight away active; other statuses come from transitions.
PLAN_CREATION_STATUSES = [
    (PlanStatus.DRAFT.value, PlanStatus.DRAFT.label),
    (PlanStatus.ACTIVE.value, PlanStatus.ACTIVE.label),
]


class ActivityKind(models.TextChoices):
    INDIVIDUAL_THERAPY = "individual_therapy", "Individual therapy"
    GROUP_THERAPY = "group_therapy", "Group therapy"
    FAMILY_THERAPY = "family_therapy", "Family therapy"
    ART_THERAPY = "art_therapy", "Art therapy"
    PSYCHIATRY = "psychiatry", "Psychiatry"
    MEDICATION = "medication", "Medication-assisted treatment"
    SUPPORT_GROUP = "support_group", "Support group"
    WELLNESS = "wellness", "Wellness"
    CASE_MANAGEMENT = "case_management", "Case management"


class Medication(models.TextChoices):
    METHADONE = "methadone", "Methadone"
    BUPRENORPHINE = "buprenorphine", "Buprenorphine"
    NALTREXONE = "naltrexone", "Naltrexone"


class SupportGroupKind(models.TextChoices):
    TWELVE_STEP = "twelve_step", "12-step"
    SMART = "smart", "SMART Recovery"
    PEER = "peer", "Peer support"
    FACILITY = "facility", "Facility group"


class WellnessKind(models.TextChoices):
    EXERCISE = "exercise", "Exercise"
    MEDITATION = "meditation", "Meditation"
    YOGA = "yoga", "Yoga"
    JOURNALING = "journaling", "Journaling"


class FrequencyPeriod(models.TextChoices):
    DAY = "day", "per day"
    WEEK = "week", "per week"
    MONTH = "month", "per month"


class TriggerCategory(models.TextChoices):
    STRESS = "stress", "Stress"
    NEGATIVE_EMOTIONS = "negative_emotions", "Negative emotions"
    SOCIAL_PRESSURE = "social_pressure", "Social pressure"
    CELEBRATIONS = "celebrations", "Celebrations"
    PAIN_OR_ILLNESS = "pain_or_illness", "Physical pain or illness"
    PEOPLE_AND_PLACES = "people_and_places", "People and places tied to past use"
    OTHER = "other", "Other"


class AttendanceStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    ATTENDED = "attended", "Attended"
    LATE = "late", "Late"
    MISSED = "missed", "Missed (no-show)"
    CANCELLED = "cancelled", "Cancelled with notice"
    LATE_CANCELLED = "late_cancelled", "Cancelled late"
    CANCELLED_BY_CLINIC = "cancelled_by_clinic", "Cancelled by the clinic"
    EXCUSED = "excused", "Excused"


# Statuses that free the slot: a cancelled appointment neither occupies a clinician nor can be moved.
CANCELLED_STATUSES = frozenset(
    {AttendanceStatus.CANCELLED, AttendanceStatus.LATE_CANCELLED, AttendanceStatus.CANCELLED_BY_CLINIC}
)
# What counts as attended and as missed: aftercare/models/outcomes.py, the one definition.
# Statuses that say what happened at a session: only recordable once it has started.
OUTCOME_STATUSES = frozenset(
    {AttendanceStatus.ATTENDED, AttendanceStatus.LATE, AttendanceStatus.MISSED, AttendanceStatus.EXCUSED}
)


class GroupAttendanceStatus(models.TextChoices):
    ATTENDED = "attended", "Attended"
    LATE = "late", "Late"
    MISSED = "missed", "Missed"
    EXCUSED = "excused", "Excused"


class OutsideMeetingKind(models.TextChoices):
    TWELVE_STEP = "twelve_step", "12-step meeting"
    SMART = "smart", "SMART Recovery meeting"
    PEER = "peer", "Peer support meeting"
    OTHER = "other", "Other"
