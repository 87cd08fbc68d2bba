"""The rules that read more than attendance, each at its thresholds: one short raises nothing;
reaching it raises exactly one flag with its stage, severity and sentence; sweeping again raises
nothing new; and the flag stops holding, saying why, when a newer record says otherwise."""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Any

import pytest
from django.utils import timezone

from aftercare.models import (
    ActivityKind,
    AttendanceStatus,
    CareTransition,
    CheckIn,
    CheckInResponse,
    CheckInStatus,
    DrugScreen,
    DrugScreenResult,
    MedicationEvent,
    RiskFlag,
    RiskRule,
)
from aftercare.risk.engine import evaluate
from aftercare.risk.rules import RULES
from aftercare.risk.wording import flag_reason
from clinic.models import Clinic, Patient, PatientStatus
from tests.aftercare.factories import ActivityFactory, AppointmentFactory, PlanFactory, clinician_of
from tests.factories import ClinicFactory, PatientFactory

NOW = timezone.now().replace(microsecond=0)
TODAY = NOW.date()


@pytest.fixture
def clinic(db: None) -> Clinic:
    return ClinicFactory.create(time_zone="UTC")


@pytest.fixture
def patient(clinic: Clinic) -> Patient:
    return PatientFactory.create(clinic=clinic, intake_date=TODAY - datetime.timedelta(days=200))


def sweep(minutes: int = 0) -> Any:
    return evaluate(now=NOW + datetime.timedelta(minutes=minutes))


def only(rule: str) -> list[RiskFlag]:
    return list(RiskFlag.objects.filter(rule=rule))


def raised_once(rule: str, severity: str, at: datetime.datetime = NOW) -> RiskFlag:
    """Exactly one flag of the rule, at `severity`; sweeping again (a minute after `at`) changes nothing."""
    (flag,) = only(rule)
    assert flag.severity == severity
    events = flag.events.count()
    evaluate(now=at + datetime.timedelta(minutes=1))
    assert only(rule) == [flag]
    assert flag.events.count() == events
    return flag


def reason(flag: RiskFlag) -> str:
    return flag_reason(flag.rule, flag.evidence, zoneinfo.ZoneInfo("UTC"))


def day(days_ago: int) -> datetime.date:
    return TODAY - datetime.timedelta(days=days_ago)


def on_medication(patient: Patient, medication: str) -> None:
    plan = PlanFactory.create(patient=patient, start_date=day(150))
    ActivityFactory.create(
        plan=plan, kind=ActivityKind.MEDICATION, medication=medication, medication_started_on=day(150)
    )


def dose(patient: Patient, medication: str, kind: str, days_ago: int, **fields: Any) -> MedicationEvent:
    return MedicationEvent.objects.create(
        clinic=patient.clinic, patient=patient, medication=medication, kind=kind, occurred_on=day(days_ago),
        recorded_by=clinician_of(patient.clinic), **fields,
    )  # fmt: skip


# -- medication_missed: methadone doses ----------------------------------------------------------


def test_methadone_doses_missed_three_days_is_medium_five_high(patient: Patient) -> None:
    on_medication(patient, "methadone")
    dose(patient, "methadone", "dose_observed", 3)  # missed the 2 days since, up to yesterday: one short
    dose(patient, "methadone", "dose_missed", 2)
    sweep()
    assert only(RiskRule.MEDICATION_MISSED) == []

    patient_b = PatientFactory.create(clinic=patient.clinic)
    on_medication(patient_b, "methadone")
    dose(patient_b, "methadone", "dose_observed", 4)  # 3 days missed: review
    sweep()
    flag = raised_once(RiskRule.MEDICATION_MISSED, "medium")
    assert flag.patient_id == patient_b.pk
    assert RULES[flag.rule].stage == "emotional"
    assert reason(flag) == f"Methadone: last dose or supply {day(4):%a} {day(4).day} {day(4):%b}"

    dose(patient_b, "methadone", "dose_missed", 1)
    evaluate(now=NOW + datetime.timedelta(days=2, minutes=2))  # 5 days since the last dose: re-induction
    escalated = RiskFlag.objects.get(rule=RiskRule.MEDICATION_MISSED, patient=patient_b)
    assert (escalated.pk, escalated.severity) == (flag.pk, "high")
    assert [item["status"] for item in escalated.evidence] == ["dose_observed", "dose_missed"]
    assert "missed doses recorded" in reason(escalated)


def test_a_take_home_supply_covers_its_days_and_a_dose_ends_the_flag(patient: Patient) -> None:
    on_medication(patient, "methadone")
    dose(patient, "methadone", "take_home_dispensed", 9, days_covered=7)  # covers 9 to 3 days ago: 2 missed
    sweep()
    assert only(RiskRule.MEDICATION_MISSED) == []
    dose(patient, "methadone", "take_home_dispensed", 10, days_covered=1)  # an older one changes nothing
    later = NOW + datetime.timedelta(days=1)
    evaluate(now=later)  # 3 missed
    flag = raised_once(RiskRule.MEDICATION_MISSED, "medium", later)
    assert flag.evidence[0]["status"] == "take_home_dispensed"
    dose(patient, "methadone", "dose_observed", 0)
    evaluate(now=later + datetime.timedelta(minutes=5))
    (flag,) = only(RiskRule.MEDICATION_MISSED)
    assert flag.condition_met is False
    assert list(flag.events.all())[-1].note == RULES[RiskRule.MEDICATION_MISSED].lapsed_note


def test_dosing_of_a_medication_the_plan_does_not_list_is_not_watched(patient: Patient) -> None:
    PlanFactory.create(patient=patient, start_date=day(150))
    dose(patient, "methadone", "dose_observed", 20)
    sweep()
    assert only(RiskRule.MEDICATION_MISSED) == []


def test_medication_events_entered_in_error_are_never_read(patient: Patient) -> None:
    on_medication(patient, "methadone")
    dose(patient, "methadone", "dose_observed", 10)
    wrong = dose(patient, "methadone", "dose_observed", 1)
    sweep()
    assert only(RiskRule.MEDICATION_MISSED) == []
    MedicationEvent.objects.filter(pk=wrong.pk).update(
        entered_in_error=True, entered_in_error_reason="Another patient's dose.", entered_in_error_at=NOW
    )
    sweep(1)
    assert [flag.severity for flag in only(RiskRule.MEDICATION_MISSED)] == ["high"]


# -- buprenorphine_gap, naltrexone_overdue --------------------------------------------------------


def test_days_without_buprenorphine_supply(patient: Patient) -> None:
    on_medication(patient, "buprenorphine")
    dose(patient, "buprenorphine", "take_home_dispensed", 9, days_covered=7)  # last covered 3 days ago: 2 without
    sweep()
    assert only(RiskRule.BUPRENORPHINE_GAP) == []

    dose(patient, "buprenorphine", "take_home_dispensed", 30, days_covered=20)  # older: changes nothing
    later = NOW + datetime.timedelta(days=1)
    evaluate(now=later)  # 3 days without
    flag = raised_once(RiskRule.BUPRENORPHINE_GAP, "medium", later)
    assert reason(flag).startswith("Buprenorphine: last dose or supply")
    evaluate(now=NOW + datetime.timedelta(days=5))  # 7 days without
    assert [f.severity for f in only(RiskRule.BUPRENORPHINE_GAP)] == ["high"]


def test_an_overdue_naltrexone_injection_is_high(patient: Patient) -> None:
    on_medication(patient, "naltrexone")
    dose(patient, "naltrexone", "injection_given", 35)  # due at 28 days, 7 of grace: one short
    sweep()
    assert only(RiskRule.NALTREXONE_OVERDUE) == []
    later = NOW + datetime.timedelta(days=1)
    evaluate(now=later)
    flag = raised_once(RiskRule.NALTREXONE_OVERDUE, "high", later)
    assert reason(flag).startswith("Naltrexone injection overdue: last given ")
    dose(patient, "naltrexone", "injection_given", 0)
    evaluate(now=NOW + datetime.timedelta(days=1, minutes=5))
    (flag,) = only(RiskRule.NALTREXONE_OVERDUE)
    assert flag.condition_met is False


# -- post_discharge_gap after a care transition ---------------------------------------------------


def transition(patient: Patient, days_ago: int, level: str, direction: str = "entered_aftercare") -> CareTransition:
    return CareTransition.objects.create(
        clinic=patient.clinic, patient=patient, direction=direction, level_of_care=level, occurred_on=day(days_ago),
        recorded_by=clinician_of(patient.clinic),
    )  # fmt: skip


def attended(patient: Patient, days_ago: float) -> None:
    starts = NOW - datetime.timedelta(days=days_ago)
    AppointmentFactory.create(
        patient=patient, clinic=patient.clinic, starts_at=starts, ends_at=starts + datetime.timedelta(minutes=50),
        attendance_status=AttendanceStatus.ATTENDED,
    )  # fmt: skip


def test_a_step_down_from_residential_care_without_follow_up_in_7_days_is_high(patient: Patient) -> None:
    step_down = transition(patient, 7, "residential")  # 7 days: one short
    sweep()
    assert only(RiskRule.POST_DISCHARGE_GAP) == []
    intensive = PatientFactory.create(clinic=patient.clinic)
    transition(intensive, 20, "intensive_outpatient")  # not high-intensity care: FUI does not follow it
    later = NOW + datetime.timedelta(days=1)
    evaluate(now=later)
    flag = raised_once(RiskRule.POST_DISCHARGE_GAP, "high", later)
    assert flag.patient_id == patient.pk
    assert flag.evidence[0] == {
        "type": "care_transition", "id": str(step_down.pk), "status": "transition",
        "starts_at": f"{day(7).isoformat()}T00:00:00+00:00",
    }  # fmt: skip
    assert reason(flag) == f"No attended session since the transition on {day(7):%a} {day(7).day} {day(7):%b}"

    attended(patient, 0.5)  # followed up within 7 days after all (recorded late)
    evaluate(now=later + datetime.timedelta(minutes=5))
    (flag,) = only(RiskRule.POST_DISCHARGE_GAP)
    assert flag.condition_met is False
    evaluate(now=NOW + datetime.timedelta(days=24))  # day 31 with one session of the 2 due within 30 days
    (flag,) = only(RiskRule.POST_DISCHARGE_GAP)
    assert flag.condition_met is True
    assert [item["type"] for item in flag.evidence] == ["care_transition", "appointment"]
    assert reason(flag).startswith(f"Only 1 attended since the transition on {day(7):%a} {day(7).day} {day(7):%b}: ")


def test_the_latest_transition_counts_and_an_entry_in_error_is_ignored(patient: Patient) -> None:
    transition(patient, 40, "inpatient")
    attended(patient, 38)
    attended(patient, 36)
    sweep()
    assert only(RiskRule.POST_DISCHARGE_GAP) == []  # followed up
    later = transition(patient, 10, "withdrawal_management")
    sweep(1)
    assert [f.severity for f in only(RiskRule.POST_DISCHARGE_GAP)] == ["high"]
    CareTransition.objects.filter(pk=later.pk).update(
        entered_in_error=True, entered_in_error_reason="Wrong patient.", entered_in_error_at=NOW
    )
    sweep(2)
    (flag,) = only(RiskRule.POST_DISCHARGE_GAP)
    assert flag.condition_met is False


def test_a_discharge_date_without_a_record_is_still_a_transition(patient: Patient) -> None:
    Patient.objects.filter(pk=patient.pk).update(status=PatientStatus.DISCHARGED, discharge_date=day(8))
    sweep()
    flag = raised_once(RiskRule.POST_DISCHARGE_GAP, "high")
    assert reason(flag) == "No attended session since discharge"


# -- check-ins -----------------------------------------------------------------------------------


def answered(patient: Patient, hours_ago: int, **answers: Any) -> CheckIn:
    at = NOW - datetime.timedelta(hours=hours_ago)
    plan = (
        PlanFactory.create(patient=patient, start_date=day(100)) if not patient.plans.exists() else patient.plans.get()
    )
    checkin = CheckIn.objects.create(
        clinic=patient.clinic, patient=patient, plan=plan, due_on=day(400 + hours_ago),
        send_at=at - datetime.timedelta(hours=2),
        status=CheckInStatus.ANSWERED, sent_at=at - datetime.timedelta(hours=2), answered_at=at,
        expires_at=at + datetime.timedelta(hours=70),
    )  # fmt: skip
    values = {
        "use_days": 0, "craving": 0, "sleep_trouble_days": 0, "low_mood_days": 0, "anxious_days": 0, "angry_days": 0,
        "confidence": 4, "support": 4, "meeting_days": 2, "wants_call": False, "risk_score": 0, "protective_score": 8,
        **answers,
    }  # fmt: skip
    CheckInResponse.objects.create(
        checkin=checkin, clinic=patient.clinic, patient=patient, instrument="bam-adapted-1", answered_at=at, **values
    )
    return checkin


def expired(patient: Patient, days_ago: int) -> CheckIn:
    at = NOW - datetime.timedelta(days=days_ago)
    plan = (
        PlanFactory.create(patient=patient, start_date=day(100)) if not patient.plans.exists() else patient.plans.get()
    )
    return CheckIn.objects.create(
        clinic=patient.clinic, patient=patient, plan=plan, due_on=day(days_ago + 3),
        send_at=at - datetime.timedelta(hours=72), sent_at=at - datetime.timedelta(hours=72), expires_at=at,
        status=CheckInStatus.EXPIRED,
    )  # fmt: skip


def test_reported_use_is_high_and_physical(patient: Patient) -> None:
    answered(patient, 30, use_days=0)
    sweep()
    assert only(RiskRule.CHECKIN_USE) == []
    checkin = answered(patient, 5, use_days=2)
    sweep(1)
    flag = raised_once(RiskRule.CHECKIN_USE, "high")
    assert RULES[flag.rule].stage == "physical"
    assert flag.evidence[0]["id"] == str(checkin.pk)
    assert reason(flag).endswith(": reported use on 2 of the past 7 days")
    answered(patient, 1, use_days=0)  # a newer answer without use
    sweep(3)
    assert only(RiskRule.CHECKIN_USE)[0].condition_met is False


def test_craving_at_3_or_confidence_at_1_is_medium_and_mental(patient: Patient) -> None:
    answered(patient, 5, craving=2, confidence=2)
    sweep()
    assert only(RiskRule.CHECKIN_CRAVING) == []
    other = PatientFactory.create(clinic=patient.clinic)
    answered(other, 5, craving=0, confidence=1)
    answered(patient, 2, craving=3, confidence=3)
    sweep(1)
    assert {(f.patient_id, f.severity) for f in only(RiskRule.CHECKIN_CRAVING)} == {
        (patient.pk, "medium"),
        (other.pk, "medium"),
    }
    flag = RiskFlag.objects.get(rule=RiskRule.CHECKIN_CRAVING, patient=patient)
    assert RULES[flag.rule].stage == "mental"
    assert reason(flag).endswith(": craving 3/4, confidence 3/4")
    events = flag.events.count()
    sweep(2)
    assert flag.events.count() == events


def test_an_answer_too_old_to_stand_raises_nothing(patient: Patient) -> None:
    answered(patient, 24 * 15, use_days=3, craving=4, wants_call=True)
    sweep()
    assert RiskFlag.objects.filter(rule__startswith="checkin_").count() == 0


def test_asking_to_be_called_is_a_high_flag_at_once(patient: Patient) -> None:
    answered(patient, 2, wants_call=True)
    sweep()
    flag = raised_once(RiskRule.CHECKIN_CALL_REQUEST, "high")
    assert RULES[flag.rule].stage is None
    assert reason(flag).startswith("Asked to be called (check-in ")


def test_two_check_ins_unanswered_in_a_row_are_low(patient: Patient) -> None:
    answered(patient, 24 * 20)
    expired(patient, 12)
    sweep()
    assert only(RiskRule.CHECKIN_SILENT) == []
    expired(patient, 5)
    sweep(1)
    flag = raised_once(RiskRule.CHECKIN_SILENT, "low")
    assert RULES[flag.rule].stage == "emotional"
    assert reason(flag).startswith("2 check-ins unanswered in a row: ")
    answered(patient, 1)
    sweep(2)
    assert only(RiskRule.CHECKIN_SILENT)[0].condition_met is False


# -- drug screens --------------------------------------------------------------------------------


def screen(patient: Patient, days_ago: int, *results: tuple[str, str, bool]) -> DrugScreen:
    made = DrugScreen.objects.create(
        clinic=patient.clinic, patient=patient, collected_on=day(days_ago), panel="12-panel",
        recorded_by=clinician_of(patient.clinic),
    )  # fmt: skip
    for analyte, result, expected in results:
        DrugScreenResult.objects.create(screen=made, analyte=analyte, result=result, expected=expected)
    return made


def test_an_unexpected_positive_screen_is_high_and_physical(patient: Patient) -> None:
    screen(patient, 3, ("methadone", "positive", True), ("opioids", "negative", True))  # all as expected
    screen(patient, 40, ("fentanyl", "positive", False))  # too old to stand
    sweep()
    assert only(RiskRule.DRUG_SCREEN) == []
    found = screen(patient, 2, ("fentanyl", "positive", False), ("cocaine", "negative", True))
    sweep(1)
    flag = raised_once(RiskRule.DRUG_SCREEN, "high")
    assert RULES[flag.rule].stage == "physical"
    assert [(item["id"], item["detail"]) for item in flag.evidence] == [(str(found.pk), {"analyte": "fentanyl"})]
    assert reason(flag) == f"Unexpected positive screen ({day(2):%a} {day(2).day} {day(2):%b}: Fentanyl)"


def test_a_screen_negative_for_the_prescribed_medication_is_an_adherence_flag(patient: Patient) -> None:
    screen(patient, 3, ("buprenorphine", "positive", True))
    sweep()
    assert only(RiskRule.MAT_NEGATIVE_SCREEN) == []
    screen(patient, 1, ("buprenorphine", "negative", False))
    sweep(1)
    flag = raised_once(RiskRule.MAT_NEGATIVE_SCREEN, "medium")
    assert RULES[flag.rule].stage is None
    assert only(RiskRule.DRUG_SCREEN) == []


def test_a_screen_entered_in_error_is_never_read(patient: Patient) -> None:
    wrong = screen(patient, 2, ("cocaine", "positive", False))
    DrugScreen.objects.filter(pk=wrong.pk).update(
        entered_in_error=True, entered_in_error_reason="Mislabelled specimen.", entered_in_error_at=NOW
    )
    sweep()
    assert only(RiskRule.DRUG_SCREEN) == []


def test_records_of_another_clinic_never_flag_this_one(patient: Patient) -> None:
    elsewhere = PatientFactory.create(clinic=ClinicFactory.create(time_zone="UTC"))
    screen(elsewhere, 2, ("cocaine", "positive", False))
    evaluate(clinics=[patient.clinic], now=NOW)  # a clinic's sweep reads only its own patients' records
    assert only(RiskRule.DRUG_SCREEN) == []
    assert not RiskFlag.objects.filter(patient=elsewhere).exists()
    evaluate(now=NOW)
    assert [flag.patient_id for flag in only(RiskRule.DRUG_SCREEN)] == [elsewhere.pk]
