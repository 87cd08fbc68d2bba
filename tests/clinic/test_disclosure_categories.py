"""A release says only what the consent covers (42 CFR Part 2 §2.31(a)(3)): nothing in it, flags
included, can be traced to a category the release does not name. Built from the real risk engine's
flags, released through the API against real PostgreSQL."""

from __future__ import annotations

import datetime
import itertools
import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from aftercare.models import (
    ActivityKind,
    AttendanceStatus,
    FlagEventKind,
    FlagStatus,
    GroupAttendance,
    GroupMembership,
    Medication,
    MedicationEvent,
    RiskFlag,
    RiskFlagEvent,
    RiskRule,
    Severity,
)
from aftercare.risk.engine import evaluate
from aftercare.risk.rules import RULES
from clinic.auth.caller import Caller
from clinic.auth.scopes import SCOPES
from clinic.models import Disclosure, DisclosureCategory, Patient, PatientStatus
from clinic.services.consents import consent_record
from tests.aftercare.factories import (
    ActivityFactory,
    AppointmentFactory,
    GroupSessionFactory,
    PlanFactory,
    SupportGroupFactory,
    clinician_of,
)
from tests.clinic.test_consents import RECIPIENT, disclosures, record, release
from tests.conftest import Persona
from tests.factories import ClinicFactory, PatientFactory, access_token, integration_client

ATTENDANCE = DisclosureCategory.ATTENDANCE
MEDICATION = DisclosureCategory.MEDICATION
# What each rule reads, as the README and the release endpoint's schema state it.
RULE_READS: dict[str, frozenset[str]] = {
    RiskRule.CONSECUTIVE_MISSED: frozenset({ATTENDANCE}),
    RiskRule.MISSED_IN_WINDOW: frozenset({ATTENDANCE}),
    RiskRule.EARLY_MISSED: frozenset({ATTENDANCE, DisclosureCategory.PLAN}),
    RiskRule.MEDICATION_MISSED: frozenset({MEDICATION, DisclosureCategory.PLAN}),
    RiskRule.BUPRENORPHINE_GAP: frozenset({MEDICATION, DisclosureCategory.PLAN}),
    RiskRule.NALTREXONE_OVERDUE: frozenset({MEDICATION, DisclosureCategory.PLAN}),
    RiskRule.NO_CONTACT: frozenset({ATTENDANCE, DisclosureCategory.ENROLLMENT}),
    RiskRule.POST_DISCHARGE_GAP: frozenset({ATTENDANCE, DisclosureCategory.ENROLLMENT}),
    RiskRule.GROUP_DROPOUT: frozenset({ATTENDANCE}),
    RiskRule.CHECKIN_USE: frozenset({DisclosureCategory.CHECK_INS}),
    RiskRule.CHECKIN_CRAVING: frozenset({DisclosureCategory.CHECK_INS}),
    RiskRule.CHECKIN_CALL_REQUEST: frozenset({DisclosureCategory.CHECK_INS}),
    RiskRule.CHECKIN_SILENT: frozenset({DisclosureCategory.CHECK_INS}),
    RiskRule.DRUG_SCREEN: frozenset({DisclosureCategory.DRUG_SCREENS}),
    RiskRule.MAT_NEGATIVE_SCREEN: frozenset({DisclosureCategory.DRUG_SCREENS, MEDICATION}),
}
EVERY_SUBSET = [
    frozenset(combination)
    for size in range(1, len(DisclosureCategory.values) + 1)
    for combination in itertools.combinations(sorted(DisclosureCategory.values), size)
]
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
GOALS = "Back at work by spring"
DOSE_SCHEDULE = "Daily, observed at the clinic"


def _missed_medication_visits_and_group_sessions(persona: Persona, now: datetime.datetime) -> Patient:
    """A patient on methadone who missed three dosing visits in a row (and, by the dispensing
    record, the doses of the last four days), and three sessions of their group."""
    patient = PatientFactory.create(clinic=persona.clinic)
    plan = PlanFactory.create(patient=patient, start_date=timezone.localdate() - datetime.timedelta(days=90))
    ActivityFactory.create(plan=plan, kind=ActivityKind.MEDICATION, medication=Medication.METHADONE)
    MedicationEvent.objects.create(
        clinic=persona.clinic, patient=patient, medication=Medication.METHADONE, kind="dose_observed",
        occurred_on=timezone.localdate() - datetime.timedelta(days=5), recorded_by=clinician_of(persona.clinic),
    )  # fmt: skip
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


def test_the_rules_read_what_the_documentation_says() -> None:
    assert {code: rule.drawn_from for code, rule in RULES.items()} == RULE_READS
    assert [code for code, rule in RULES.items() if rule.reads_medication_starts] == [RiskRule.EARLY_MISSED]


def test_a_flag_whose_history_rests_on_a_medication_visit_is_withheld_without_medication(ehr_a: Persona) -> None:
    """Evidence cleared when the rule stopped firing still shaped the flag's raising and severity."""
    now = timezone.now()
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    visit = AppointmentFactory.create(
        patient=patient, kind=ActivityKind.MEDICATION, attendance_status=AttendanceStatus.MISSED
    )
    flag = RiskFlag.objects.create(
        clinic=ehr_a.clinic,
        patient=patient,
        rule=RiskRule.CONSECUTIVE_MISSED,
        severity=Severity.MEDIUM,
        evidence=[],
        condition_met=False,
        raised_at=now,
        evidence_updated_at=now,
    )
    item = {"type": "appointment", "id": str(visit.pk), "starts_at": visit.starts_at.isoformat(), "status": "missed"}
    RiskFlagEvent.objects.create(
        flag=flag, kind=FlagEventKind.RAISED, severity=Severity.MEDIUM, evidence=[item], at=now
    )
    consent = record(ehr_a, patient, categories=["all"])

    without = release(ehr_a, patient, consent["id"], categories=["attendance", "risk_flags"])
    with_medication = release(ehr_a, patient, consent["id"], categories=["attendance", "medication", "risk_flags"])

    assert without.json()["data"]["risk_flags"] == []
    assert [row["rule"] for row in with_medication.json()["data"]["risk_flags"]] == [RiskRule.CONSECUTIVE_MISSED]
    # The accounting counts what was left out; the release itself never says.
    assert "withheld" not in without.content.decode()
    accounting = ehr_a.api.get(disclosures(patient)).json()["results"]
    assert [row["withheld"] for row in accounting] == [{}, {"attendance": 1, "risk_flags": 1}]


# --- every combination of categories ----------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    hours_ago: int
    status: str
    medication: bool


@dataclass(frozen=True)
class History:
    visits: tuple[Visit, ...]
    group: tuple[tuple[int, str], ...]  # (days ago, status) of the sessions of the patient's group
    discharged: bool
    plan_start_days_ago: int
    medication_start_days_ago: int | None
    old_flag_rule: str  # a closed flag whose only evidence, in its history, was a medication visit


visits = st.builds(
    Visit,
    hours_ago=st.integers(1, 24 * 45),
    status=st.sampled_from(
        [AttendanceStatus.ATTENDED, AttendanceStatus.MISSED, AttendanceStatus.LATE_CANCELLED, AttendanceStatus.EXCUSED]
    ),
    medication=st.booleans(),
)
histories = st.builds(
    History,
    visits=st.lists(visits, min_size=1, max_size=8, unique_by=lambda visit: visit.hours_ago)
    .filter(lambda items: any(visit.medication for visit in items))
    .map(tuple),
    group=st.lists(
        st.tuples(st.integers(1, 40), st.sampled_from(["attended", "missed"])),
        max_size=4,
        unique_by=lambda item: item[0],
    ).map(tuple),
    discharged=st.booleans(),
    plan_start_days_ago=st.integers(0, 90),
    medication_start_days_ago=st.none() | st.integers(0, 60),
    old_flag_rule=st.sampled_from(RiskRule.values),
)


@dataclass
class Built:
    patient: Patient
    appointments: dict[str, tuple[str, bool]]  # id -> (starts_at as released, medication)
    group_sessions: dict[str, str]  # id -> starts_at as released
    medication_activities: int


def _released_instant(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).isoformat()


def _build(clinic: Any, history: History, now: datetime.datetime) -> Built:
    today = timezone.localdate(now, timezone=clinic.zone)
    patient = PatientFactory.create(
        clinic=clinic,
        intake_date=today - datetime.timedelta(days=120),
        status=PatientStatus.DISCHARGED if history.discharged else PatientStatus.ACTIVE,
        discharge_date=today - datetime.timedelta(days=10) if history.discharged else None,
    )
    plan = PlanFactory.create(
        patient=patient, goals=GOALS, start_date=today - datetime.timedelta(days=history.plan_start_days_ago)
    )
    ActivityFactory.create(plan=plan, kind=ActivityKind.GROUP_THERAPY)
    ActivityFactory.create(
        plan=plan,
        kind=ActivityKind.MEDICATION,
        medication=Medication.BUPRENORPHINE,
        dose_schedule=DOSE_SCHEDULE,
        medication_started_on=(
            None
            if history.medication_start_days_ago is None
            else today - datetime.timedelta(days=history.medication_start_days_ago)
        ),
    )
    appointments: dict[str, tuple[str, bool]] = {}
    for visit in history.visits:
        appointment = AppointmentFactory.create(
            patient=patient,
            kind=ActivityKind.MEDICATION if visit.medication else ActivityKind.INDIVIDUAL_THERAPY,
            starts_at=now - datetime.timedelta(hours=visit.hours_ago),
            attendance_status=visit.status,
        )
        appointments[str(appointment.pk)] = (_released_instant(appointment.starts_at), visit.medication)
    group_sessions: dict[str, str] = {}
    if history.group:
        group = SupportGroupFactory.create(clinic=clinic)
        GroupMembership.objects.create(group=group, patient=patient, joined_on=today - datetime.timedelta(days=50))
        for days_ago, status in history.group:
            # Half an hour off the appointments' whole hours, so no two sessions share an instant.
            starts_at = now - datetime.timedelta(days=days_ago, minutes=30)
            session = GroupSessionFactory.create(group=group, starts_at=starts_at)
            GroupAttendance.objects.create(session=session, patient=patient, status=status)
            group_sessions[str(session.pk)] = _released_instant(starts_at)
    evaluate(now=now)
    medication_visit = next(pk for pk, (_at, medication) in appointments.items() if medication)
    old = RiskFlag.objects.create(
        clinic=clinic,
        patient=patient,
        rule=history.old_flag_rule,
        severity=Severity.MEDIUM,
        status=FlagStatus.RESOLVED,
        evidence=[],
        condition_met=False,
        raised_at=now - datetime.timedelta(days=60, minutes=10),
        evidence_updated_at=now - datetime.timedelta(days=59, minutes=10),
        closed_at=now - datetime.timedelta(days=59, minutes=10),
        resolution_note="Back on schedule",
    )
    item = {"type": "appointment", "id": medication_visit, "starts_at": appointments[medication_visit][0]}
    RiskFlagEvent.objects.create(
        flag=old, kind=FlagEventKind.RAISED, severity=Severity.MEDIUM, evidence=[item], at=old.raised_at
    )
    return Built(patient, appointments, group_sessions, medication_activities=1)


def _drawn_from(flag: RiskFlag, built: Built, on_medication: bool) -> frozenset[str]:
    """The categories a flag can be traced to, read from what the test itself built."""
    categories = set(RULE_READS[flag.rule])
    if flag.rule == RiskRule.EARLY_MISSED and on_medication:
        categories.add(MEDICATION)
    for items in [flag.evidence, *flag.events.values_list("evidence", flat=True)]:
        for item in items:
            categories.add(ATTENDANCE)
            if item["type"] == "appointment" and built.appointments[item["id"]][1]:
                categories.add(MEDICATION)
    return frozenset(categories)


@pytest.mark.django_db
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=5)
@given(history=histories)
def test_nothing_in_a_release_can_be_traced_to_a_category_it_does_not_name(history: History) -> None:
    now = timezone.now().replace(microsecond=0)
    with transaction.atomic():
        clinic = ClinicFactory.create()
        client = integration_client(clinic, list(SCOPES))
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token(client)}")
        built = _build(clinic, history, now)
        patient = built.patient
        consent = consent_record(
            patient=patient,
            by=Caller(clinic=clinic, scopes=frozenset(SCOPES), client=client),
            recipient_name=RECIPIENT,
            purpose="Coordination of care",
            categories=["all"],
            signed_on=timezone.localdate(timezone=clinic.zone),
            expires_on=timezone.localdate(now, timezone=clinic.zone) + datetime.timedelta(days=30),
        )
        flags = list(RiskFlag.objects.filter(patient=patient))
        on_medication = history.medication_start_days_ago is not None
        drawn = {flag.pk: _drawn_from(flag, built, on_medication) for flag in flags}
        medication_visits = sum(medication for _at, medication in built.appointments.values())

        for categories in EVERY_SUBSET:
            body = {"consent": str(consent.pk), "recipient_name": RECIPIENT, "categories": sorted(categories)}
            response = api.post(disclosures(patient), body, format="json")
            assert response.status_code == 201, response.json()
            text = response.content.decode()
            payload = response.json()
            data = payload["data"]
            assert set(data) == categories

            # No record's id goes out: only the disclosure's own, its consent's, the patient's and the releaser's.
            disclosure = payload["disclosure"]
            assert set(UUID.findall(text)) <= {disclosure["id"], str(consent.pk), str(patient.pk), str(client.pk)}
            assert "withheld" not in text
            if MEDICATION not in categories:
                for trace in ("medication", Medication.BUPRENORPHINE, DOSE_SCHEDULE):
                    assert trace not in text, (categories, trace)
            if DisclosureCategory.PLAN not in categories:
                assert GOALS not in text
            # A session's instant appears only where every category the session belongs to is released.
            for starts_at, medication in built.appointments.values():
                visible = ATTENDANCE in categories and (MEDICATION in categories or not medication)
                assert (starts_at in text) == visible, (categories, starts_at, medication)
            for starts_at in built.group_sessions.values():
                assert (starts_at in text) == (ATTENDANCE in categories), (categories, starts_at)

            # Exactly the flags drawn from released categories alone: none withheld needlessly.
            expected = [flag for flag in flags if drawn[flag.pk] <= categories]
            if DisclosureCategory.RISK_FLAGS in categories:
                assert sorted((row["rule"], row["raised_at"]) for row in data["risk_flags"]) == sorted(
                    (flag.rule, _released_instant(flag.raised_at)) for flag in expected
                ), categories

            withheld: dict[str, int] = {}
            if MEDICATION not in categories:
                if ATTENDANCE in categories:
                    withheld[ATTENDANCE] = medication_visits
                if DisclosureCategory.PLAN in categories:
                    withheld[DisclosureCategory.PLAN] = built.medication_activities
            if DisclosureCategory.RISK_FLAGS in categories and len(expected) < len(flags):
                withheld[DisclosureCategory.RISK_FLAGS] = len(flags) - len(expected)
            assert Disclosure.objects.get(pk=disclosure["id"]).withheld == withheld, categories
        transaction.set_rollback(True)
