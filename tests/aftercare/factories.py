"""Factories for the aftercare domain. Times are aware UTC."""

from __future__ import annotations

import datetime
from typing import Any

import factory
from django.apps import apps
from django.utils import timezone

from aftercare.models import (
    ActivityKind,
    AftercarePlan,
    Appointment,
    GroupAttendance,
    GroupMembership,
    GroupSession,
    PlanActivity,
    PlanStatus,
    Reminder,
    SupportGroup,
    SupportGroupKind,
)
from aftercare.services.reminders import reminders_sync_appointment
from clinic.models import Clinic, Patient, Role, User
from tests.factories import ClinicFactory, MembershipFactory, PatientFactory


def clinician_of(clinic: Clinic) -> User:
    return MembershipFactory.create(clinic=clinic, role=Role.CLINICIAN).user


class PlanFactory(factory.django.DjangoModelFactory[AftercarePlan]):
    class Meta:
        model = AftercarePlan

    patient = factory.SubFactory(PatientFactory)
    clinic = factory.SelfAttribute("patient.clinic")
    status = PlanStatus.ACTIVE
    start_date = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=20))
    warning_signs = factory.LazyFunction(lambda: ["Skipping meals", "Avoiding my sponsor"])


class ActivityFactory(factory.django.DjangoModelFactory[PlanActivity]):
    class Meta:
        model = PlanActivity

    plan = factory.SubFactory(PlanFactory)
    kind = ActivityKind.INDIVIDUAL_THERAPY


class AppointmentFactory(factory.django.DjangoModelFactory[Appointment]):
    class Meta:
        model = Appointment

    patient = factory.SubFactory(PatientFactory)
    clinic = factory.SelfAttribute("patient.clinic")
    clinician = factory.LazyAttribute(lambda o: clinician_of(o.clinic))
    kind = ActivityKind.INDIVIDUAL_THERAPY
    starts_at = factory.Sequence(lambda n: timezone.now() - datetime.timedelta(days=2, hours=n))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + datetime.timedelta(minutes=50))


class SupportGroupFactory(factory.django.DjangoModelFactory[SupportGroup]):
    class Meta:
        model = SupportGroup

    clinic = factory.SubFactory(ClinicFactory)
    name = factory.Sequence(lambda n: f"Tuesday evening group {n}")
    kind = SupportGroupKind.FACILITY


class GroupSessionFactory(factory.django.DjangoModelFactory[GroupSession]):
    class Meta:
        model = GroupSession

    group = factory.SubFactory(SupportGroupFactory)
    starts_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(hours=3))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + datetime.timedelta(hours=1))


def group_dropout_ahead(clinic: Clinic, *, now: datetime.datetime) -> tuple[Patient, GroupSession]:
    """A member who missed their group's last two sessions, and the session (yesterday) whose
    attendance is still to be recorded: one more miss is a group dropout."""
    group = SupportGroupFactory.create(clinic=clinic)
    patient = PatientFactory.create(clinic=clinic, intake_date=now.date() - datetime.timedelta(days=100))
    GroupMembership.objects.create(group=group, patient=patient, joined_on=now.date() - datetime.timedelta(days=90))
    for weeks in (3, 2):
        earlier = GroupSessionFactory.create(group=group, starts_at=now - datetime.timedelta(weeks=weeks))
        GroupAttendance.objects.create(session=earlier, patient=patient, status="missed")
    return patient, GroupSessionFactory.create(group=group, starts_at=now - datetime.timedelta(days=1))


def due_reminders(count: int, *, apart: datetime.timedelta = datetime.timedelta(minutes=1)) -> list[str]:
    """`count` patients of a new clinic, each with one appointment (`apart` from the last) and its
    one reminder due now; the patients' addresses, lower-cased. One reminder a session: a
    session's reminders all due at once would make one email (the others skipped)."""
    clinic = ClinicFactory.create(
        time_zone="UTC",
        reminder_offsets_minutes=[120],
        quiet_hours_start=datetime.time(0, 0),
        quiet_hours_end=datetime.time(0, 0),
    )
    soon = timezone.now() + datetime.timedelta(hours=3)
    for index in range(count):
        starts = soon + apart * index
        appointment = AppointmentFactory.create(
            clinic=clinic,
            patient=PatientFactory.create(clinic=clinic),
            starts_at=starts,
            ends_at=starts + datetime.timedelta(minutes=50),
        )
        reminders_sync_appointment(appointment=appointment, now=timezone.now() - datetime.timedelta(days=3))
    Reminder.objects.update(send_at=timezone.now() - datetime.timedelta(minutes=1))
    assert Reminder.objects.filter(status="pending").count() == count
    return [email.lower() for email in Reminder.objects.values_list("patient__email", flat=True)]


def latest_change(obj: Any) -> Any:
    """The newest row of an object's change history (django-pghistory), with its context."""
    model = apps.get_model(obj._meta.app_label, f"{type(obj).__name__}History")
    return model.objects.filter(pgh_obj_id=obj.pk).order_by("pgh_id").last()
