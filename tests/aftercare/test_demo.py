"""The demo clinic (`manage.py seed_demo`): it loads twice, holds every kind of record the risk
rules read, and the risk engine flags exactly the patients whose story is a warning sign, for that
warning sign, and nobody who is doing well."""

from __future__ import annotations

import datetime
import io
import itertools
import re
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.management import call_command

from aftercare.models import (
    AftercarePlan,
    Appointment,
    GroupAttendance,
    GroupMembership,
    Medication,
    RiskFlag,
    RiskRule,
)
from aftercare.models.checkins import CheckIn, CheckInResponse, CheckInStatus
from aftercare.models.records import (
    Analyte,
    CareTransition,
    DrugScreenResult,
    LevelOfCare,
    MedicationEvent,
    MedicationEventKind,
    ScreenResult,
    TransitionDirection,
)
from aftercare.risk.wording import flag_reason
from clinic.demo import Story, demo_courses
from clinic.models import Patient, PatientStatus
from clinic.privacy import forbidden_words_in

CHICAGO = zoneinfo.ZoneInfo("America/Chicago")
# A Wednesday morning before the day's sessions, and a Sunday evening on the day clocks change.
MOMENTS = [
    datetime.datetime(2026, 12, 2, 7, 0, tzinfo=CHICAGO),
    datetime.datetime(2027, 3, 14, 20, 0, tzinfo=CHICAGO),
]

# What each story should raise, by rule and severity; every other story raises nothing.
EXPECTED: dict[Story, set[tuple[str, str]]] = {
    Story.CRAVING_RISING: {(RiskRule.CHECKIN_CRAVING, "medium"), (RiskRule.CONSECUTIVE_MISSED, "medium")},
    Story.METHADONE_MISSED: {(RiskRule.MEDICATION_MISSED, "medium")},
    Story.FENTANYL_SCREEN: {(RiskRule.DRUG_SCREEN, "high")},
    Story.STEPPED_DOWN_LOST: {(RiskRule.POST_DISCHARGE_GAP, "high"), (RiskRule.EARLY_MISSED, "medium")},
    Story.DRIFTING: {
        (RiskRule.CONSECUTIVE_MISSED, "high"),
        (RiskRule.MISSED_IN_WINDOW, "medium"),
        (RiskRule.GROUP_DROPOUT, "medium"),
    },
    Story.LOST: {
        (RiskRule.CONSECUTIVE_MISSED, "high"),
        (RiskRule.MISSED_IN_WINDOW, "medium"),
        (RiskRule.GROUP_DROPOUT, "medium"),
        (RiskRule.NO_CONTACT, "high"),
    },
    Story.CALL_REQUEST: {(RiskRule.CHECKIN_CALL_REQUEST, "high")},
}


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


@pytest.fixture
def data_dir(settings: Any, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path
    return tmp_path


@pytest.fixture(params=MOMENTS, ids=["wednesday", "dst-sunday"])
def loaded(request: pytest.FixtureRequest, db: None, data_dir: Path) -> Iterator[datetime.datetime]:
    with time_machine.travel(request.param, tick=False):
        seed()
        yield request.param


def _id(patient: Patient) -> str:
    return patient.external_id or ""


def flags_by_story() -> dict[str, tuple[Story, set[tuple[str, str]]]]:
    courses = demo_courses()
    found: dict[str, tuple[Story, set[tuple[str, str]]]] = {
        _id(patient): (courses[_id(patient)].story, set()) for patient in Patient.objects.filter(clinic__slug="demo")
    }
    for flag in RiskFlag.objects.filter(clinic__slug="demo").select_related("patient"):
        found[_id(flag.patient)][1].add((flag.rule, flag.severity))
    return found


def test_the_demo_flags_each_warning_sign_its_stories_tell_and_nobody_doing_well(loaded: datetime.datetime) -> None:
    found = flags_by_story()
    for external_id, (story, flags) in found.items():
        assert flags == EXPECTED.get(story, set()), (external_id, story)
    told = {story for story, flags in found.values() if flags}
    assert told == set(EXPECTED)
    # Those doing well are most of the caseload.
    assert sum(story == Story.STEADY for story, _ in found.values()) >= 30


def test_every_flag_reason_names_what_happened(loaded: datetime.datetime) -> None:
    courses = demo_courses()
    reasons = {
        (courses[_id(flag.patient)].story, flag.rule): flag_reason(flag.rule, flag.evidence, CHICAGO)
        for flag in RiskFlag.objects.select_related("patient")
    }
    assert re.fullmatch(r"Check-in \w{3} \d+ \w{3}: craving 4/4, confidence 1/4",
                        reasons[Story.CRAVING_RISING, RiskRule.CHECKIN_CRAVING])  # fmt: skip
    assert reasons[Story.CRAVING_RISING, RiskRule.CONSECUTIVE_MISSED].startswith("Missed 2 in a row: ")
    assert re.fullmatch(r"Methadone: last dose or supply .+; missed doses recorded [^,]+, [^,]+, [^,]+",
                        reasons[Story.METHADONE_MISSED, RiskRule.MEDICATION_MISSED])  # fmt: skip
    assert re.fullmatch(r"Unexpected positive screen \(\w{3} \d+ \w{3}: Fentanyl\)",
                        reasons[Story.FENTANYL_SCREEN, RiskRule.DRUG_SCREEN])  # fmt: skip
    assert reasons[Story.STEPPED_DOWN_LOST, RiskRule.POST_DISCHARGE_GAP].startswith(
        "No attended session since the transition on "
    )
    assert reasons[Story.STEPPED_DOWN_LOST, RiskRule.EARLY_MISSED].startswith("Missed 1 early in aftercare: ")
    assert reasons[Story.LOST, RiskRule.NO_CONTACT].startswith("No attended session since ")
    assert reasons[Story.CALL_REQUEST, RiskRule.CHECKIN_CALL_REQUEST].startswith("Asked to be called (check-in ")


def _counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Patient, AftercarePlan, Appointment, GroupMembership, GroupAttendance, CheckIn,
                      CheckInResponse, CareTransition, MedicationEvent, DrugScreenResult, RiskFlag)
    }  # fmt: skip


def test_the_demo_loads_twice_and_the_second_load_changes_nothing(db: None, data_dir: Path) -> None:
    with time_machine.travel(MOMENTS[0], tick=False):
        seed()
        first = _counts()
        output = seed()
    assert _counts() == first
    assert "risk sweep: 0 flags raised" in output


def test_the_demo_holds_every_kind_of_record_the_rules_read(db: None, data_dir: Path) -> None:
    with time_machine.travel(MOMENTS[0], tick=False):
        seed()
    today = MOMENTS[0].date()
    events = MedicationEvent.objects.all()
    # Methadone dosed daily (observed, and missed), buprenorphine supplied a week at a time,
    # naltrexone injected monthly.
    methadone = events.filter(medication=Medication.METHADONE, kind=MedicationEventKind.DOSE_OBSERVED)
    assert methadone.values("patient").distinct().count() >= 2
    assert events.filter(medication=Medication.METHADONE, kind=MedicationEventKind.DOSE_MISSED).count() == 3
    supplies = events.filter(medication=Medication.BUPRENORPHINE, kind=MedicationEventKind.TAKE_HOME_DISPENSED)
    assert supplies.values("patient").distinct().count() >= 2
    assert set(supplies.values_list("days_covered", flat=True)) == {7}
    injections = events.filter(medication=Medication.NALTREXONE, kind=MedicationEventKind.INJECTION_GIVEN)
    days = sorted(injections.values_list("occurred_on", flat=True))
    assert len(days) >= 3
    assert {(b - a).days for a, b in itertools.pairwise(days)} == {28}
    # Steps down from residential care and withdrawal management, and discharges.
    transitions = set(CareTransition.objects.values_list("direction", "level_of_care"))
    assert (TransitionDirection.ENTERED_AFTERCARE, LevelOfCare.RESIDENTIAL) in transitions
    assert (TransitionDirection.ENTERED_AFTERCARE, LevelOfCare.WITHDRAWAL_MANAGEMENT) in transitions
    assert any(direction == TransitionDirection.DISCHARGED for direction, _ in transitions)
    # Screens: mostly as expected, one unexpected positive, for fentanyl.
    results = DrugScreenResult.objects.all()
    unexpected = results.filter(expected=False)
    assert list(unexpected.values_list("analyte", "result")) == [(Analyte.FENTANYL, ScreenResult.POSITIVE)]
    assert results.filter(expected=True, result=ScreenResult.POSITIVE).exists()  # the prescribed medication
    assert results.filter(expected=True).count() >= 10
    # Weekly check-ins, answered and (now and then) not, for some patients, from plans with them on.
    opted_in = Patient.objects.filter(checkins_opt_in=True, status=PatientStatus.ACTIVE)
    assert 5 <= opted_in.count() < Patient.objects.filter(status=PatientStatus.ACTIVE).count()
    assert CheckInResponse.objects.values("patient").distinct().count() == opted_in.count()
    assert CheckIn.objects.filter(status=CheckInStatus.EXPIRED).exists()
    assert not CheckIn.objects.filter(due_on__gte=today).exists()  # the scheduler sends the next
    assert not AftercarePlan.objects.filter(checkin_every_days=0).exists()
    # Discharged patients left their groups; every member is in the group their plan names.
    discharged = GroupMembership.objects.filter(patient__status=PatientStatus.DISCHARGED)
    assert discharged.exists()
    assert not discharged.filter(left_on__isnull=True).exists()
    for membership in GroupMembership.objects.select_related("group", "patient"):
        plan = AftercarePlan.objects.filter(patient=membership.patient).get()
        assert plan.activities.filter(kind="support_group", support_group_kind=membership.group.kind).exists()


def test_the_demo_plans_vary_and_every_contact_is_fictitious(db: None, data_dir: Path) -> None:
    with time_machine.travel(MOMENTS[0], tick=False):
        seed()
    plans = list(AftercarePlan.objects.select_related("patient"))
    assert len({tuple(plan.warning_signs) for plan in plans}) > len(plans) // 2
    assert len({plan.triggers[0]["description"] for plan in plans}) > 5
    assert len({tuple(plan.coping_strategies) for plan in plans}) > len(plans) // 2
    assert sum(plan.sponsor is not None for plan in plans) >= 5
    assert {len(plan.support_persons) for plan in plans} == {1, 2}
    fictitious = re.compile(r"\+1 \d{3}-555-01\d{2}")
    for plan in plans:
        assert "Naloxone" in plan.emergency_plan["what_to_do"]
        for person in [*plan.support_persons, *([plan.sponsor] if plan.sponsor else [])]:
            assert fictitious.fullmatch(person["phone"])
            assert person["phone"] != plan.patient.phone
        for contact in plan.emergency_plan["contacts"]:
            assert contact["phone"] == "988" or fictitious.fullmatch(contact["phone"])
    for patient in Patient.objects.all():
        assert patient.email.endswith("@example.org")
        assert fictitious.fullmatch(patient.phone)
        assert forbidden_words_in(patient.email) == []


def test_the_demo_retention_curve_loses_people_early(db: None, data_dir: Path) -> None:
    """Of those who stopped coming, most stopped in their first two months."""
    stopped = [course.stopped_on_day for course in demo_courses().values() if course.stopped_on_day is not None]
    assert len(stopped) >= 6
    assert sum(day <= 63 for day in stopped) >= 0.75 * len(stopped)
