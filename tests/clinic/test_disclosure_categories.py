"""A release says only what the consent covers (42 CFR Part 2 §2.31(a)(3)): nothing in it, flags
included, can be traced to a category the release does not name. Built from the real risk engine's
flags, released through the API against real PostgreSQL."""

from __future__ import annotations

import datetime

from django.utils import timezone

from aftercare.models import (
    ActivityKind,
    AttendanceStatus,
    GroupAttendance,
    GroupMembership,
    Medication,
    RiskFlag,
    RiskRule,
)
from aftercare.risk.engine import evaluate
from clinic.models import Disclosure, Patient
from tests.aftercare.factories import (
    ActivityFactory,
    AppointmentFactory,
    GroupSessionFactory,
    PlanFactory,
    SupportGroupFactory,
)
from tests.clinic.test_consents import record, release
from tests.conftest import Persona
from tests.factories import PatientFactory


def _missed_medication_visits_and_group_sessions(persona: Persona, now: datetime.datetime) -> Patient:
    """A patient on methadone who missed three dosing visits in a row, and three sessions of their group."""
    patient = PatientFactory.create(clinic=persona.clinic)
    plan = PlanFactory.create(patient=patient, start_date=timezone.localdate() - datetime.timedelta(days=90))
    ActivityFactory.create(plan=plan, kind=ActivityKind.MEDICATION, medication=Medication.METHADONE)
    for days_ago in (3, 2, 1):
        AppointmentFactory.create(
            patient=patient,
            kind=ActivityKind.MEDICATION,
            starts_at=now - datetime.timedelta(days=days_ago, hours=2),
            attendance_status=AttendanceStatus.MISSED,
        )
    group = SupportGroupFactory.create(clinic=persona.clinic)
    GroupMembership.objects.create(
        group=group, patient=patient, joined_on=timezone.localdate() - datetime.timedelta(days=60)
    )
    for days_ago in (30, 23, 16):
        session = GroupSessionFactory.create(group=group, starts_at=now - datetime.timedelta(days=days_ago))
        GroupAttendance.objects.create(session=session, patient=patient, status=AttendanceStatus.MISSED)
    return patient


def test_a_release_without_medication_carries_no_flag_drawn_from_medication_visits(ehr_a: Persona) -> None:
    now = timezone.now()
    patient = _missed_medication_visits_and_group_sessions(ehr_a, now)
    evaluate(now=now)
    raised = set(RiskFlag.objects.filter(patient=patient).values_list("rule", flat=True))
    assert {RiskRule.MEDICATION_MISSED, RiskRule.CONSECUTIVE_MISSED, RiskRule.MISSED_IN_WINDOW} <= raised
    assert RiskRule.GROUP_DROPOUT in raised
    consent = record(ehr_a, patient, categories=["risk_flags", "attendance"])

    response = release(ehr_a, patient, consent["id"], categories=["risk_flags", "attendance"])

    assert response.status_code == 201, response.json()
    data = response.json()["data"]
    assert data["attendance"]["appointments"] == []
    # The group's sessions are attendance: their dropout flag goes. The rest were drawn (in part)
    # from the withheld dosing visits, or by nature from medication.
    assert [flag["rule"] for flag in data["risk_flags"]] == [RiskRule.GROUP_DROPOUT]
    assert "medication" not in response.content.decode()
    assert Disclosure.objects.get().categories == ["attendance", "risk_flags"]
