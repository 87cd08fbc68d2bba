"""Reads behind the aftercare API: every queryset starts from the clinic and loads what its
serializer needs up front, so a page costs the same number of queries whatever its size."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from aftercare.models import (
    AftercarePlan,
    Appointment,
    AppointmentSeries,
    AttendanceRecord,
    GroupAttendance,
    GroupMembership,
    GroupSession,
    OutsideMeeting,
    PlanActivity,
    SupportGroup,
)
from clinic.models import Clinic


def plan_list(*, clinic: Clinic) -> QuerySet[AftercarePlan]:
    return AftercarePlan.objects.filter(clinic=clinic).prefetch_related(
        Prefetch("activities", queryset=PlanActivity.objects.order_by("position", "created_at"))
    )


def plan_activity_list(*, clinic: Clinic) -> QuerySet[PlanActivity]:
    return PlanActivity.objects.filter(plan__clinic=clinic).select_related("plan")


def appointment_list(*, clinic: Clinic) -> QuerySet[Appointment]:
    return Appointment.objects.filter(clinic=clinic)


def attendance_history(*, appointment: Appointment) -> QuerySet[AttendanceRecord]:
    return AttendanceRecord.objects.filter(appointment=appointment).order_by("recorded_at", "id")


def series_list(*, clinic: Clinic) -> QuerySet[AppointmentSeries]:
    return AppointmentSeries.objects.filter(clinic=clinic)


def support_group_list(*, clinic: Clinic) -> QuerySet[SupportGroup]:
    return SupportGroup.objects.filter(clinic=clinic)


def group_member_list(*, group: SupportGroup) -> QuerySet[GroupMembership]:
    return GroupMembership.objects.filter(group=group).order_by("joined_on", "created_at")


def group_session_list(*, clinic: Clinic) -> QuerySet[GroupSession]:
    return GroupSession.objects.filter(group__clinic=clinic)


def group_attendance_list(*, session: GroupSession) -> QuerySet[GroupAttendance]:
    return GroupAttendance.objects.filter(session=session).order_by("created_at", "id")


def outside_meeting_list(*, clinic: Clinic) -> QuerySet[OutsideMeeting]:
    return OutsideMeeting.objects.filter(clinic=clinic)
