"""Work that follows a commit (risk evaluation, the email about a high flag) is recorded in the
same transaction and delivered by the outbox: a broker outage never turns a committed write into
an error, and nothing queued is lost while the broker is away."""

from __future__ import annotations

import ast
import datetime

import psycopg
import pytest
from django.db import connection, transaction
from django.utils import timezone

from aftercare.models import (
    Appointment,
    AttendanceStatus,
    GroupAttendance,
    OutboxKind,
    OutboxMessage,
    RiskFlag,
    RiskRule,
)
from aftercare.risk.engine import evaluate
from aftercare.services.appointments import attendance_record
from aftercare.services.outbox import outbox_drain, outbox_enqueue, outbox_purge, outbox_unpublished_kinds
from aftercare.services.risk import risk_evaluate_after_commit
from clinic.auth.caller import Caller
from clinic.embedded import database_url
from tasks.schedule import BEAT_SCHEDULE
from tests.aftercare.factories import AppointmentFactory, group_dropout_ahead
from tests.broker import CLOSED_BROKER_URL, publishing_to
from tests.conftest import ROOT, Persona
from tests.factories import PatientFactory

NOW = timezone.now().replace(microsecond=0)
A = AttendanceStatus


def second_miss_ahead(persona: Persona) -> Appointment:
    """A patient early in aftercare with one missed session; recording the next as missed raises a flag."""
    patient = PatientFactory.create(clinic=persona.clinic, intake_date=NOW.date() - datetime.timedelta(days=5))
    AppointmentFactory.create(patient=patient, clinic=persona.clinic, starts_at=NOW - datetime.timedelta(days=3),
                              attendance_status=A.MISSED)  # fmt: skip
    return AppointmentFactory.create(patient=patient, clinic=persona.clinic, starts_at=NOW - datetime.timedelta(days=1))


def test_recording_attendance_with_the_broker_down_answers_200_and_keeps_the_evaluation(
    transactional_db: None, ehr_a: Persona
) -> None:
    appointment = second_miss_ahead(ehr_a)
    with publishing_to(CLOSED_BROKER_URL):
        response = ehr_a.api.post(f"/api/v1/appointments/{appointment.pk}/attendance/", {"status": "missed"})
    assert response.status_code == 200, response.content
    appointment.refresh_from_db()
    assert appointment.attendance_status == A.MISSED
    assert not RiskFlag.objects.exists()
    (message,) = OutboxMessage.objects.all()
    assert message.kind == OutboxKind.RISK_EVALUATE
    assert message.payload == {"patient_ids": [str(appointment.patient_id)]}
    assert message.dispatched_at is None
    assert (message.attempts, message.last_error) == (1, "OperationalError")

    # The broker is back (tasks run in this process again): the drain delivers the evaluation.
    result = outbox_drain()
    assert (result.published, result.failed, result.unreachable) == (1, 0, False)
    assert RiskFlag.objects.filter(patient_id=appointment.patient_id, rule=RiskRule.CONSECUTIVE_MISSED).exists()
    message.refresh_from_db()
    assert message.dispatched_at is not None
    assert outbox_drain().published == 0, "a published message is not published again"


def test_group_attendance_recorded_with_the_broker_down_answers_200_and_is_evaluated_later(
    transactional_db: None, ehr_a: Persona
) -> None:
    patient, latest = group_dropout_ahead(ehr_a.clinic, now=NOW)
    with publishing_to(CLOSED_BROKER_URL):
        response = ehr_a.api.post(
            f"/api/v1/group-sessions/{latest.pk}/attendance/",
            {"attendance": [{"patient": str(patient.pk), "status": "missed"}]},
            format="json",
        )
    assert response.status_code == 200, response.content
    assert GroupAttendance.objects.filter(session=latest, patient=patient, status="missed").exists()
    assert not RiskFlag.objects.exists()
    assert outbox_drain().published == 1
    assert RiskFlag.objects.filter(patient=patient, rule=RiskRule.GROUP_DROPOUT).count() == 1


def test_with_the_broker_up_the_evaluation_is_published_right_after_the_commit(
    transactional_db: None, ehr_a: Persona
) -> None:
    appointment = second_miss_ahead(ehr_a)
    response = ehr_a.api.post(f"/api/v1/appointments/{appointment.pk}/attendance/", {"status": "missed"})
    assert response.status_code == 200, response.content
    # Tasks run in this process: publishing the message ran the evaluation.
    assert RiskFlag.objects.filter(patient_id=appointment.patient_id, rule=RiskRule.CONSECUTIVE_MISSED).exists()
    (message,) = OutboxMessage.objects.all()
    assert message.dispatched_at is not None
    assert (message.attempts, message.last_error) == (1, "")
    assert outbox_drain().published == 0


def test_recording_attendance_queues_the_evaluation_in_its_own_transaction(db: None, ehr_a: Persona) -> None:
    appointment = second_miss_ahead(ehr_a)
    by = Caller(clinic=ehr_a.clinic, scopes=frozenset(), client=ehr_a.client)
    with transaction.atomic():
        attendance_record(appointment=appointment, status=A.MISSED, by=by)
        (message,) = OutboxMessage.objects.all()
        assert message.payload == {"patient_ids": [str(appointment.patient_id)]}
        transaction.set_rollback(True)
    assert not OutboxMessage.objects.exists(), "a rolled-back attendance leaves no evaluation behind"


def test_a_new_high_flag_queues_its_email_with_the_flag(db: None, ehr_a: Persona) -> None:
    appointment = second_miss_ahead(ehr_a)
    AppointmentFactory.create(patient=appointment.patient, clinic=ehr_a.clinic,
                              starts_at=NOW - datetime.timedelta(days=2), attendance_status=A.MISSED)  # fmt: skip
    appointment.attendance_status = A.MISSED
    appointment.save()
    with transaction.atomic():
        evaluate(patient_ids=[appointment.patient_id])
        flag = RiskFlag.objects.get(patient_id=appointment.patient_id, rule=RiskRule.CONSECUTIVE_MISSED)
        assert flag.severity == "high"
        assert OutboxMessage.objects.filter(kind=OutboxKind.FLAGS_NOTIFY, payload={"flag_ids": [str(flag.pk)]}).exists()
        transaction.set_rollback(True)
    assert not OutboxMessage.objects.exists()


def test_the_drain_leaves_a_message_another_relay_holds(transactional_db: None, ehr_a: Persona) -> None:
    appointment = second_miss_ahead(ehr_a)
    appointment.attendance_status = A.MISSED
    appointment.save()
    with publishing_to(CLOSED_BROKER_URL):
        risk_evaluate_after_commit([appointment.patient_id])
    (message,) = OutboxMessage.objects.all()
    other = psycopg.connect(database_url(connection.settings_dict), autocommit=False)
    try:
        other.execute("SELECT id FROM aftercare_outboxmessage WHERE id = %s FOR UPDATE", [message.pk])
        assert outbox_drain().published == 0
        other.rollback()
    finally:
        other.close()
    assert outbox_drain().published == 1
    assert RiskFlag.objects.filter(patient_id=appointment.patient_id).exists()


def test_a_message_that_cannot_be_published_waits_without_holding_up_the_others(db: None, ehr_a: Persona) -> None:
    appointment = second_miss_ahead(ehr_a)
    broken = OutboxMessage.objects.create(kind=OutboxKind.RISK_EVALUATE, payload={})
    OutboxMessage.objects.create(kind=OutboxKind.RISK_EVALUATE, payload={"patient_ids": [str(appointment.patient_id)]})
    now = timezone.now()
    result = outbox_drain(now=now)
    assert (result.published, result.failed) == (1, 1)
    broken.refresh_from_db()
    assert (broken.dispatched_at, broken.attempts, broken.last_error) == (None, 1, "KeyError")
    assert broken.available_at > now, "it waits before the next try"
    assert outbox_drain(now=now).failed == 0
    assert outbox_drain(now=broken.available_at).failed == 1


def test_purging_keeps_waiting_messages_and_recent_ones(db: None) -> None:
    now = timezone.now()
    old, recent = now - datetime.timedelta(days=8), now - datetime.timedelta(days=6)
    make = OutboxMessage.objects.create
    gone = make(kind=OutboxKind.FLAGS_NOTIFY, payload={"flag_ids": []}, created_at=old, dispatched_at=old)
    kept = [
        make(kind=OutboxKind.FLAGS_NOTIFY, payload={"flag_ids": []}, created_at=old, dispatched_at=recent),
        make(kind=OutboxKind.FLAGS_NOTIFY, payload={"flag_ids": []}, created_at=old),
    ]
    assert outbox_purge(now=now) == 1
    assert set(OutboxMessage.objects.values_list("pk", flat=True)) == {message.pk for message in kept}
    assert not OutboxMessage.objects.filter(pk=gone.pk).exists()


def test_an_outbox_payload_holds_ids_only(db: None) -> None:
    with pytest.raises(ValueError, match="ids only"):
        outbox_enqueue(kind=OutboxKind.RISK_EVALUATE, payload={"patient_ids": [{"given_name": "x"}]})  # type: ignore[list-item]
    assert not OutboxMessage.objects.exists()


def test_every_kind_of_message_has_a_publisher() -> None:
    assert outbox_unpublished_kinds() == []


def test_beat_drains_the_outbox_every_few_seconds_and_purges_it() -> None:
    entries = {entry["task"]: entry for entry in BEAT_SCHEDULE.values()}
    assert entries["tasks.outbox.outbox_drain"]["schedule"] <= 30
    assert "tasks.maintenance.outbox_purge" in entries


def test_the_domain_imports_no_task_module() -> None:
    """Tasks call services, never the other way round."""
    offenders = []
    for package in ("clinic", "aftercare"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = (
                    [alias.name for alias in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0
                    else []
                )  # fmt: skip
                offenders += [f"{path.relative_to(ROOT)}: {name}" for name in names if name.split(".")[0] == "tasks"]
    assert offenders == []
