"""Each piece of a flag's evidence in words with its context, and the selector that gathers the
sessions behind many flags in a fixed number of queries."""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Any

from django.utils import timezone

from aftercare.models import RiskFlag, RiskRule
from aftercare.risk.wording import evidence_line
from aftercare.selectors.flags import flag_evidence_lines
from clinic.models import Clinic
from tests.aftercare.factories import AppointmentFactory, GroupSessionFactory, PlanFactory, SupportGroupFactory
from tests.factories import PatientFactory

CHICAGO = zoneinfo.ZoneInfo("America/Chicago")
# Wed 14 Oct 2026 12:00 in Chicago (17:00 UTC).
NOON = datetime.datetime(2026, 10, 14, 17, 0, tzinfo=datetime.UTC)


def _item(status: str = "missed", kind: str = "appointment", at: datetime.datetime = NOON) -> dict[str, Any]:
    return {"type": kind, "id": "00000000-0000-0000-0000-000000000001", "starts_at": at.isoformat(), "status": status}


def test_a_missed_appointment_reads_with_its_kind_local_time_and_the_day_of_the_plan() -> None:
    line = evidence_line(
        RiskRule.CONSECUTIVE_MISSED,
        _item(),
        what="individual therapy",
        plan_start=datetime.date(2026, 9, 16),
        zone=CHICAGO,
    )
    assert line == "missed individual therapy Wed 14 Oct 12:00, day 29 of the plan"


def test_a_late_evening_session_is_on_the_clinics_day_not_utcs() -> None:
    evening = datetime.datetime(2026, 10, 15, 2, 30, tzinfo=datetime.UTC)  # Wed 14 Oct 21:30 in Chicago
    line = evidence_line(
        RiskRule.EARLY_MISSED, _item("late_cancelled", at=evening), what="psychiatry",
        plan_start=datetime.date(2026, 10, 14), zone=CHICAGO,
    )  # fmt: skip
    assert line == "cancelled late psychiatry Wed 14 Oct 21:30, day 1 of the plan"


def test_after_discharge_the_context_is_the_days_since_discharge() -> None:
    line = evidence_line(
        RiskRule.POST_DISCHARGE_GAP, _item("attended"), what="group session “Tuesday SMART”",
        plan_start=datetime.date(2026, 1, 1), discharged_on=datetime.date(2026, 10, 11), zone=CHICAGO,
    )  # fmt: skip
    assert line == "attended group session “Tuesday SMART” Wed 14 Oct 12:00, 3 days after discharge"


def test_a_session_before_the_plan_or_gone_still_reads() -> None:
    assert (
        evidence_line(
            RiskRule.NO_CONTACT, _item("attended"), what=None, plan_start=datetime.date(2026, 11, 1), zone=CHICAGO
        )
        == "attended a session Wed 14 Oct 12:00"
    )
    assert evidence_line(RiskRule.GROUP_DROPOUT, _item(kind="group_session"), what=None, zone=CHICAGO) == (
        "missed a group session Wed 14 Oct 12:00"
    )


def test_the_selector_reads_the_sessions_of_any_number_of_flags_in_three_queries(
    clinic_a: Clinic, django_assert_num_queries: Any
) -> None:
    def make(n: int) -> list[RiskFlag]:
        flags = []
        group = SupportGroupFactory.create(clinic=clinic_a, name=f"Thursday group {n}")
        for _ in range(n):
            patient = PatientFactory.create(clinic=clinic_a)
            PlanFactory.create(patient=patient, start_date=timezone.localdate() - datetime.timedelta(days=10))
            # Inside the plan (the factory's default time steps back an hour per appointment made).
            appointment = AppointmentFactory.create(
                patient=patient, attendance_status="missed", starts_at=timezone.now() - datetime.timedelta(days=2)
            )
            session = GroupSessionFactory.create(group=group)
            evidence = [
                {"type": "appointment", "id": str(appointment.pk), "starts_at": appointment.starts_at.isoformat(),
                 "status": "missed"},
                {"type": "group_session", "id": str(session.pk), "starts_at": session.starts_at.isoformat(),
                 "status": "missed"},
            ]  # fmt: skip
            flags.append(
                RiskFlag.objects.create(
                    clinic=clinic_a,
                    patient=patient,
                    rule=RiskRule.MISSED_IN_WINDOW,
                    severity="medium",
                    evidence=evidence,
                    raised_at=timezone.now(),
                    evidence_updated_at=timezone.now(),
                )
            )
        return list(RiskFlag.objects.filter(pk__in=[f.pk for f in flags]).select_related("patient"))

    for n in (2, 30):
        flags = make(n)
        with django_assert_num_queries(3):
            lines = flag_evidence_lines(flags, zone=clinic_a.zone)
        assert len(lines) == n
        first = lines[flags[0].pk]
        assert first[0].startswith("missed individual therapy ")
        assert first[1].startswith(f"missed group session “Thursday group {n}” ")
        assert all(", day " in line and line.endswith(" of the plan") for line in first)
