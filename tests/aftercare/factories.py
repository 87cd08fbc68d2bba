"""Factories for the aftercare domain. Times are aware UTC."""

from __future__ import annotations

import datetime

import factory
from django.utils import timezone

from aftercare.models import (
    ActivityKind,
    AftercarePlan,
    Appointment,
    GroupSession,
    PlanActivity,
    PlanStatus,
    SupportGroup,
    SupportGroupKind,
)
from clinic.models import Clinic, Role, User
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
