"""Each risk rule at its threshold: one session short raises nothing, reaching it raises exactly
one flag, and sweeping again raises nothing new. Then the flag's life: escalation, closing,
raising again only on new evidence, and evidence that a correction took away."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone

from aftercare.models import (
    ActivityKind,
    Appointment,
    AttendanceStatus,
    FlagEventKind,
    FlagStatus,
    GroupAttendance,
    GroupMembership,
    RiskFlag,
    RiskRule,
)
from aftercare.risk.engine import evaluate
from aftercare.risk.wording import flag_reason
from clinic.models import Clinic, Patient, PatientStatus
from tests.aftercare.factories import (
    ActivityFactory,
    AppointmentFactory,
    GroupSessionFactory,
    PlanFactory,
    SupportGroupFactory,
)
from tests.factories import ClinicFactory, PatientFactory

NOW = timezone.now().replace(microsecond=0)
A = AttendanceStatus


@pytest.fixture
def clinic(db: None) -> Clinic:
    return ClinicFactory.create(time_zone="UTC")


@pytest.fixture
def patient(clinic: Clinic) -> Patient:
    return PatientFactory.create(clinic=clinic, intake_date=NOW.date() - datetime.timedelta(days=200))


def session(patient: Patient, days_ago: float, status: str, kind: str = ActivityKind.INDIVIDUAL_THERAPY) -> Appointment:
    starts = NOW - datetime.timedelta(days=days_ago)
    return AppointmentFactory.create(
        patient=patient, clinic=patient.clinic, kind=kind, starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=50), attendance_status=status,
    )  # fmt: skip


def history(patient: Patient, *statuses: str, kind: str = ActivityKind.INDIVIDUAL_THERAPY) -> list[Appointment]:
    """Sessions a week apart, the last one yesterday."""
    count = len(statuses)
    return [session(patient, 1 + 7 * (count - 1 - index), status, kind) for index, status in enumerate(statuses)]


def flags(rule: str) -> list[RiskFlag]:
    return list(RiskFlag.objects.filter(rule=rule))


def sweep(now: datetime.datetime = NOW) -> Any:
    return evaluate(now=now)


# -- consecutive_missed -------------------------------------------------------------------------


def test_consecutive_missed_one_short_then_at_medium_then_high_on_the_same_flag(patient: Patient) -> None:
    history(patient, A.ATTENDED, A.MISSED)
    sweep()
    assert flags(RiskRule.CONSECUTIVE_MISSED) == []

    session(patient, 0.5, A.MISSED)
    sweep()
    (flag,) = flags(RiskRule.CONSECUTIVE_MISSED)
    assert (flag.severity, flag.status, len(flag.evidence)) == ("medium", "open", 2)
    sweep()
    assert len(flags(RiskRule.CONSECUTIVE_MISSED)) == 1

    session(patient, 0.25, A.MISSED)
    sweep(NOW + datetime.timedelta(minutes=1))
    (escalated,) = flags(RiskRule.CONSECUTIVE_MISSED)
    assert (escalated.pk, escalated.severity, len(escalated.evidence)) == (flag.pk, "high", 3)
    assert [event.kind for event in escalated.events.all()] == [FlagEventKind.RAISED, FlagEventKind.ESCALATED]
    assert [event.severity for event in escalated.events.all()] == ["medium", "high"]


def test_attending_groups_does_not_end_a_run_of_missed_therapy(patient: Patient) -> None:
    """Streams are counted apart as well as together: three therapy no-shows in a row are high
    even though the patient came to every group session in between."""
    therapy = [session(patient, days_ago, A.MISSED) for days_ago in (20, 13)]
    group_history(patient, "attended", "attended", "attended")  # 21, 14 and 7 days ago
    sweep()
    (flag,) = flags(RiskRule.CONSECUTIVE_MISSED)
    assert (flag.severity, [item["id"] for item in flag.evidence]) == ("medium", [str(a.pk) for a in therapy])

    therapy.append(session(patient, 6, A.LATE_CANCELLED))
    sweep(NOW + datetime.timedelta(minutes=1))
    sweep(NOW + datetime.timedelta(minutes=2))
    (flag,) = flags(RiskRule.CONSECUTIVE_MISSED)
    assert (flag.severity, [item["id"] for item in flag.evidence]) == ("high", [str(a.pk) for a in therapy])
    assert flag.events.count() == 2  # raised, escalated: sweeping again changed nothing

    session(patient, 2, A.ATTENDED)  # therapy again: the run ends
    sweep(NOW + datetime.timedelta(minutes=3))
    (flag,) = flags(RiskRule.CONSECUTIVE_MISSED)
    assert flag.condition_met is False


def test_excused_and_cancellations_never_count_as_missed_but_late_cancellations_do(patient: Patient) -> None:
    history(patient, A.ATTENDED, A.MISSED, A.EXCUSED, A.CANCELLED, A.CANCELLED_BY_CLINIC)
    sweep()
    assert flags(RiskRule.CONSECUTIVE_MISSED) == []
    assert flags(RiskRule.MISSED_IN_WINDOW) == []

    session(patient, 0.5, A.LATE_CANCELLED)
    sweep()
    (flag,) = flags(RiskRule.CONSECUTIVE_MISSED)
    assert [item["status"] for item in flag.evidence] == [A.MISSED, A.LATE_CANCELLED]


def test_a_session_still_scheduled_is_not_missed(patient: Patient) -> None:
    history(patient, A.ATTENDED, A.MISSED, A.SCHEDULED, A.SCHEDULED)
    sweep()
    assert flags(RiskRule.CONSECUTIVE_MISSED) == []


# -- missed_in_window ---------------------------------------------------------------------------


def test_missed_in_window_counts_misses_within_30_days_in_a_row_or_not(patient: Patient) -> None:
    session(patient, 31, A.MISSED)  # outside the window
    for days_ago, status in [(25, A.MISSED), (20, A.ATTENDED), (15, A.MISSED), (10, A.ATTENDED)]:
        session(patient, days_ago, status)
    sweep()
    assert flags(RiskRule.MISSED_IN_WINDOW) == []

    session(patient, 5, A.LATE_CANCELLED)
    sweep()
    sweep()
    (flag,) = flags(RiskRule.MISSED_IN_WINDOW)
    assert flag.severity == "medium"
    assert len(flag.evidence) == 3


# -- early_missed -------------------------------------------------------------------------------


def test_a_miss_in_the_first_30_days_of_the_plan_is_medium_and_a_second_high(patient: Patient) -> None:
    PlanFactory.create(patient=patient, start_date=NOW.date() - datetime.timedelta(days=40))
    session(patient, 5, A.ATTENDED)
    session(patient, 10, A.MISSED)  # the plan's day 31 (days 1 to 30 are early)
    sweep()
    assert flags(RiskRule.EARLY_MISSED) == []

    session(patient, 11, A.MISSED)  # day 30
    sweep()
    sweep()
    (flag,) = flags(RiskRule.EARLY_MISSED)
    assert (flag.severity, len(flag.evidence)) == ("medium", 1)
    assert flag_reason(flag.rule, flag.evidence).startswith("Missed 1 early in aftercare: ")

    session(patient, 12, A.LATE_CANCELLED)  # day 29: a second early miss, still not re-engaged
    sweep(NOW + datetime.timedelta(minutes=1))
    (escalated,) = flags(RiskRule.EARLY_MISSED)
    assert (escalated.pk, escalated.severity, len(escalated.evidence)) == (flag.pk, "high", 2)


def test_an_early_miss_stops_holding_once_the_patient_has_attended_two_sessions_since(patient: Patient) -> None:
    PlanFactory.create(patient=patient, start_date=NOW.date() - datetime.timedelta(days=20))
    session(patient, 15, A.MISSED)
    session(patient, 10, A.ATTENDED)  # one since: one short
    sweep()
    (flag,) = flags(RiskRule.EARLY_MISSED)
    assert (flag.severity, flag.condition_met) == ("medium", True)

    session(patient, 5, A.LATE)  # two since: re-engaged
    sweep(NOW + datetime.timedelta(minutes=1))
    (flag,) = flags(RiskRule.EARLY_MISSED)
    assert flag.condition_met is False
    assert list(flag.events.all())[-1].note.startswith("Re-engaged: sessions attended since the last early miss")
    sweep(NOW + datetime.timedelta(minutes=2))
    assert flags(RiskRule.EARLY_MISSED) == [flag]
    assert flag.events.count() == 2


def test_a_miss_in_the_first_30_days_of_a_medication_start_is_flagged(patient: Patient) -> None:
    plan = PlanFactory.create(patient=patient, start_date=NOW.date() - datetime.timedelta(days=300))
    activity = ActivityFactory.create(plan=plan, kind=ActivityKind.MEDICATION, medication="buprenorphine")
    session(patient, 3, A.MISSED)
    sweep()
    assert flags(RiskRule.EARLY_MISSED) == []

    activity.medication_started_on = NOW.date() - datetime.timedelta(days=10)
    activity.save()
    sweep()
    assert [flag.severity for flag in flags(RiskRule.EARLY_MISSED)] == ["medium"]


# -- medication_missed --------------------------------------------------------------------------


def test_missed_medication_visits_are_a_run_of_their_own(patient: Patient) -> None:
    """A clinic that books medication visits without recording doses: the visits are a stream of
    consecutive_missed (medication_missed reads dosing events, and there are none)."""
    history(patient, A.ATTENDED, A.MISSED, A.MISSED, kind=ActivityKind.MEDICATION)
    session(patient, 0.5, A.ATTENDED)  # therapy attended: ends the run over every session, not this one
    sweep()
    (flag,) = flags(RiskRule.CONSECUTIVE_MISSED)
    assert (flag.severity, len(flag.evidence)) == ("medium", 2)

    session(patient, 0.25, A.MISSED, kind=ActivityKind.MEDICATION)
    sweep(NOW + datetime.timedelta(minutes=1))
    (flag,) = flags(RiskRule.CONSECUTIVE_MISSED)
    assert (flag.severity, len(flag.evidence)) == ("high", 3)
    assert flags(RiskRule.MEDICATION_MISSED) == []


# -- no_contact ---------------------------------------------------------------------------------


def test_no_contact_after_30_days_medium_and_after_37_high(patient: Patient) -> None:
    last = session(patient, 29.9, A.ATTENDED)
    sweep()
    assert flags(RiskRule.NO_CONTACT) == []

    later = NOW + datetime.timedelta(days=0.1)
    sweep(later)
    sweep(later)
    (flag,) = flags(RiskRule.NO_CONTACT)
    assert flag.severity == "medium"
    assert [item["id"] for item in flag.evidence] == [str(last.pk)]

    sweep(NOW + datetime.timedelta(days=7.2))
    (flag,) = flags(RiskRule.NO_CONTACT)
    assert flag.severity == "high"


def test_no_contact_counts_from_intake_when_nothing_was_attended(clinic: Clinic) -> None:
    newcomer = PatientFactory.create(clinic=clinic, intake_date=NOW.date() - datetime.timedelta(days=29))
    sweep()
    assert flags(RiskRule.NO_CONTACT) == []
    sweep(NOW + datetime.timedelta(days=1))
    assert [flag.patient_id for flag in flags(RiskRule.NO_CONTACT)] == [newcomer.pk]


# -- post_discharge_gap -------------------------------------------------------------------------


def discharge(patient: Patient, days_ago: int) -> None:
    Patient.objects.filter(pk=patient.pk).update(
        status=PatientStatus.DISCHARGED, discharge_date=NOW.date() - datetime.timedelta(days=days_ago)
    )


def test_discharged_8_days_ago_with_nothing_attended_is_high_without_new_attendance(patient: Patient) -> None:
    """HEDIS FUI: a follow-up visit within 7 days of discharge."""
    discharge(patient, 7)
    sweep()
    assert flags(RiskRule.POST_DISCHARGE_GAP) == []

    discharge(patient, 8)
    sweep()
    sweep()
    (flag,) = flags(RiskRule.POST_DISCHARGE_GAP)
    assert flag.severity == "high"
    assert flags(RiskRule.NO_CONTACT) == []  # that rule watches active patients


def test_post_discharge_engagement_needs_two_sessions_within_30_days(patient: Patient) -> None:
    """HEDIS FUI: two follow-up visits within 30 days of discharge."""
    discharge(patient, 31)
    session(patient, 27, A.ATTENDED)
    sweep()
    (flag,) = flags(RiskRule.POST_DISCHARGE_GAP)
    assert flag.severity == "medium"
    assert flag_reason(flag.rule, flag.evidence).startswith("Only 1 attended since discharge: ")

    other = PatientFactory.create(clinic=patient.clinic)
    discharge(other, 31)
    session(other, 27, A.ATTENDED)
    session(other, 20, A.LATE)
    sweep()
    assert [flag.patient_id for flag in flags(RiskRule.POST_DISCHARGE_GAP)] == [patient.pk]


def test_a_discharge_long_ago_is_no_longer_watched(patient: Patient) -> None:
    discharge(patient, 91)
    sweep()
    assert flags(RiskRule.POST_DISCHARGE_GAP) == []


# -- group_dropout ------------------------------------------------------------------------------


def group_history(patient: Patient, *statuses: str, left: bool = False) -> None:
    group = SupportGroupFactory.create(clinic=patient.clinic)
    GroupMembership.objects.create(
        group=group, patient=patient, joined_on=NOW.date() - datetime.timedelta(days=100),
        left_on=NOW.date() if left else None,
    )  # fmt: skip
    for index, status in enumerate(statuses):
        starts = NOW - datetime.timedelta(days=7 * (len(statuses) - index))
        group_session = GroupSessionFactory.create(group=group, starts_at=starts)
        GroupAttendance.objects.create(session=group_session, patient=patient, status=status)


def test_group_dropout_after_three_missed_sessions_of_a_group_in_a_row(patient: Patient) -> None:
    group_history(patient, "attended", "missed", "missed")
    sweep()
    assert flags(RiskRule.GROUP_DROPOUT) == []

    other = PatientFactory.create(clinic=patient.clinic, intake_date=patient.intake_date)
    group_history(other, "attended", "missed", "excused", "missed", "missed")
    sweep()
    sweep()
    (flag,) = flags(RiskRule.GROUP_DROPOUT)
    assert (flag.patient_id, flag.severity, len(flag.evidence)) == (other.pk, "medium", 3)


def test_a_group_the_patient_left_is_not_watched(patient: Patient) -> None:
    group_history(patient, "attended", "missed", "missed", "missed", left=True)
    sweep()
    assert flags(RiskRule.GROUP_DROPOUT) == []


# -- the flag's life ----------------------------------------------------------------------------


def test_a_resolved_flag_comes_back_only_with_evidence_after_its_resolution(patient: Patient) -> None:
    history(patient, A.ATTENDED, A.MISSED, A.MISSED)
    sweep()
    (flag,) = flags(RiskRule.CONSECUTIVE_MISSED)
    RiskFlag.objects.filter(pk=flag.pk).update(
        status=FlagStatus.RESOLVED, closed_at=NOW, resolution_note="Called: back next week."
    )
    sweep(NOW + datetime.timedelta(hours=1))
    assert len(flags(RiskRule.CONSECUTIVE_MISSED)) == 1

    session(patient, -0.5, A.MISSED)  # after the resolution (recorded as it happened)
    sweep(NOW + datetime.timedelta(days=1))
    raised = RiskFlag.objects.filter(rule=RiskRule.CONSECUTIVE_MISSED, status=FlagStatus.OPEN).get()
    assert raised.pk != flag.pk
    assert raised.severity == "high"


def test_a_correction_that_removes_the_evidence_keeps_the_flag_and_records_it(patient: Patient) -> None:
    _attended, first, second = history(patient, A.ATTENDED, A.MISSED, A.MISSED)
    sweep()
    (flag,) = flags(RiskRule.CONSECUTIVE_MISSED)

    Appointment.objects.filter(pk=second.pk).update(attendance_status=A.EXCUSED)
    result = sweep(NOW + datetime.timedelta(minutes=1))
    flag.refresh_from_db()
    assert flag.status == FlagStatus.OPEN
    assert flag.condition_met is False
    assert flag.evidence == []
    assert [event.kind for event in flag.events.all()] == [FlagEventKind.RAISED, FlagEventKind.EVIDENCE_CHANGED]
    assert flag.events.all()[0].evidence[0]["id"] == str(first.pk)
    assert result.lapsed >= 1

    Appointment.objects.filter(pk=second.pk).update(attendance_status=A.MISSED)
    sweep(NOW + datetime.timedelta(minutes=2))
    flag.refresh_from_db()
    assert (flag.condition_met, len(flag.evidence)) == (True, 2)
    assert len(flags(RiskRule.CONSECUTIVE_MISSED)) == 1


def test_a_disabled_rule_raises_nothing(patient: Patient) -> None:
    from aftercare.models import RiskRuleSetting

    RiskRuleSetting.objects.create(clinic=patient.clinic, rule=RiskRule.CONSECUTIVE_MISSED, enabled=False)
    history(patient, A.MISSED, A.MISSED, A.MISSED)
    sweep()
    assert flags(RiskRule.CONSECUTIVE_MISSED) == []
    assert flags(RiskRule.MISSED_IN_WINDOW) != []


def test_a_clinics_own_threshold_is_used(patient: Patient) -> None:
    from aftercare.models import RiskRuleSetting

    RiskRuleSetting.objects.create(
        clinic=patient.clinic, rule=RiskRule.CONSECUTIVE_MISSED, thresholds={"medium_at": 4, "high_at": 5}
    )
    history(patient, A.MISSED, A.MISSED, A.MISSED)
    sweep()
    assert flags(RiskRule.CONSECUTIVE_MISSED) == []


def test_another_clinics_patients_do_not_mix(patient: Patient) -> None:
    elsewhere = PatientFactory.create(intake_date=patient.intake_date)
    history(elsewhere, A.MISSED, A.MISSED)
    history(patient, A.ATTENDED)
    sweep()
    (flag,) = flags(RiskRule.CONSECUTIVE_MISSED)
    assert (flag.patient_id, flag.clinic_id) == (elsewhere.pk, elsewhere.clinic_id)


def test_the_risk_sweep_command_says_what_it_did(patient: Patient) -> None:
    from io import StringIO

    from django.core.management import call_command

    history(patient, A.ATTENDED, A.MISSED, A.MISSED)
    out = StringIO()
    call_command("risk_sweep", stdout=out)
    assert "raised 1," in out.getvalue()
    out = StringIO()
    call_command("risk_sweep", stdout=out)
    assert "raised 0, escalated 0" in out.getvalue()
    assert "left alone 1" in out.getvalue()


def test_the_sweep_counts_the_patients_it_looked_at(patient: Patient) -> None:
    PatientFactory.create(clinic=patient.clinic, status=PatientStatus.ARCHIVED)
    assert sweep().patients == 1
    assert evaluate(patient_ids=[patient.pk], now=NOW).patients == 1
