"""The risk summaries the triggers keep are the ones a rebuild from scratch computes, whatever
writes the sessions went through: saves, bulk updates, moves, deletions, group sessions cancelled
or moved, attendance corrected. And two transactions writing one patient's sessions at once both
end up in the summary."""

from __future__ import annotations

import datetime
import threading
from typing import Any

import pytest
from django.db import connection, connections, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aftercare.models import Appointment, AttendanceStatus, GroupAttendance, GroupSession, RiskSummary
from aftercare.risk.engine import evaluate
from tests.aftercare.factories import AppointmentFactory
from tests.aftercare.test_risk_engine import NOW, build, people
from tests.factories import ClinicFactory, PatientFactory


def summaries() -> dict[Any, tuple[Any, ...]]:
    return {
        row.patient_id: (
            row.attended_at,
            row.attended,
            row.medication_attended_at,
            row.missed_at,
            row.missed,
            row.medication_missed_at,
            row.medication_missed,
        )
        for row in RiskSummary.objects.all()
    }


def rebuild() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT aftercare_risk_summary_refresh(NULL)")


# One write to the sessions: (what, which row by position, a value).
writes = st.tuples(
    st.sampled_from(["status", "move", "kind", "delete", "bulk_status", "cancel_session", "move_session", "group"]),
    st.integers(0, 50),
    st.sampled_from(AttendanceStatus.values),
    st.integers(-72, 72),
)


def apply(write: tuple[str, int, str, int]) -> None:
    what, index, status, hours = write
    appointments = list(Appointment.objects.order_by("starts_at", "id"))
    sessions = list(GroupSession.objects.order_by("starts_at", "id"))
    attendance = list(GroupAttendance.objects.order_by("id"))
    if what in {"status", "move", "kind", "delete"} and appointments:
        appointment = appointments[index % len(appointments)]
        if what == "status":
            appointment.attendance_status = status
            appointment.save(update_fields=["attendance_status"])
        elif what == "move":
            Appointment.objects.filter(pk=appointment.pk).update(
                starts_at=appointment.starts_at + datetime.timedelta(hours=hours),
                ends_at=appointment.ends_at + datetime.timedelta(hours=hours),
            )
        elif what == "kind":
            new = "individual_therapy" if appointment.kind == "medication" else "medication"
            Appointment.objects.filter(pk=appointment.pk).update(kind=new)
        else:
            Appointment.objects.filter(pk=appointment.pk).delete()
    elif what == "bulk_status" and appointments:
        patient_id = appointments[index % len(appointments)].patient_id
        Appointment.objects.filter(patient_id=patient_id).update(attendance_status=status)
    elif what == "cancel_session" and sessions:
        session = sessions[index % len(sessions)]
        GroupSession.objects.filter(pk=session.pk).update(cancelled=not session.cancelled)
    elif what == "move_session" and sessions:
        session = sessions[index % len(sessions)]
        GroupSession.objects.filter(pk=session.pk).update(
            starts_at=session.starts_at + datetime.timedelta(hours=hours),
            ends_at=session.ends_at + datetime.timedelta(hours=hours),
        )
    elif what == "group" and attendance:
        row = attendance[index % len(attendance)]
        if status in {"scheduled", "cancelled"}:
            row.delete()
        else:
            row.status = {"late_cancelled": "excused", "cancelled_by_clinic": "excused"}.get(status, status)
            if row.status not in {"attended", "late", "missed", "excused"}:
                row.status = "missed"
            row.save(update_fields=["status"])


@pytest.mark.django_db
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=25)
@given(population=st.lists(people, min_size=1, max_size=3), changes=st.lists(writes, max_size=8))
def test_the_summaries_the_triggers_keep_are_the_ones_a_rebuild_computes(
    population: list[Any], changes: list[tuple[str, int, str, int]]
) -> None:
    with transaction.atomic():
        clinic = ClinicFactory.create(time_zone="UTC")
        for person in population:
            build(clinic, person)
        for change in changes:
            apply(change)
        kept = summaries()
        flags = evaluate(now=NOW)
        rebuild()
        assert summaries() == kept
        # And the rules read the same from either.
        again = evaluate(now=NOW)
        assert (again.raised, again.escalated, again.evidence_changed, again.lapsed) == (0, 0, 0, 0)
        assert again.left_alone == flags.raised + flags.left_alone
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_writes_that_cannot_change_a_summary_refresh_nothing() -> None:
    patient = PatientFactory.create()
    appointment = AppointmentFactory.create(patient=patient, clinic=patient.clinic, attendance_status="scheduled")
    assert not RiskSummary.objects.filter(patient=patient).exists()
    Appointment.objects.filter(pk=appointment.pk).update(location="Room 9")
    assert not RiskSummary.objects.filter(patient=patient).exists()
    Appointment.objects.filter(pk=appointment.pk).update(attendance_status="missed")
    summary = RiskSummary.objects.get(patient=patient)
    assert [item["id"] for item in summary.missed] == [str(appointment.pk)]
    assert summary.attended_at is None


@pytest.mark.django_db(transaction=True)
def test_two_transactions_writing_one_patient_both_reach_the_summary() -> None:
    """The second refresh waits for the first to commit, then reads both sessions."""
    patient = PatientFactory.create()
    first, second = (
        AppointmentFactory.create(
            patient=patient, clinic=patient.clinic, attendance_status="scheduled",
            starts_at=NOW - datetime.timedelta(days=days),
        )
        for days in (3, 2)
    )  # fmt: skip
    first_written = threading.Event()
    errors: list[BaseException] = []

    def other_writer() -> None:
        try:
            first_written.wait(10)
            with transaction.atomic():
                Appointment.objects.filter(pk=second.pk).update(attendance_status="missed")
        except BaseException as error:  # reported to the test below
            errors.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_writer)
    thread.start()
    with transaction.atomic():
        Appointment.objects.filter(pk=first.pk).update(attendance_status="missed")
        first_written.set()
        # The other writer is now blocked on this patient's refresh: give it time to be.
        thread.join(0.5)
        assert thread.is_alive()
    thread.join(10)
    assert not errors
    summary = RiskSummary.objects.get(patient=patient)
    assert [item["id"] for item in summary.missed] == [str(first.pk), str(second.pk)]
    rebuild()
    assert RiskSummary.objects.get(patient=patient).missed == summary.missed


@pytest.mark.django_db
def test_a_load_that_bypassed_the_triggers_is_seen_after_a_rebuild() -> None:
    from io import StringIO

    from django.core.management import call_command

    patient = PatientFactory.create()
    appointment = AppointmentFactory.create(patient=patient, clinic=patient.clinic, attendance_status="scheduled")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE aftercare_appointment SET attendance_status = 'missed' WHERE id = %s", [appointment.pk])
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")
    assert not RiskSummary.objects.filter(patient=patient).exists()
    out = StringIO()
    call_command("risk_sweep", "--rebuild", stdout=out)
    assert "Risk summaries rebuilt." in out.getvalue()
    assert [item["id"] for item in RiskSummary.objects.get(patient=patient).missed] == [str(appointment.pk)]
