"""`flags/`, `risk-rules/` and `dashboard/`: filters, the flag's lifecycle, who may do what, other
clinics' flags as 404, constant query counts, and the email about a high flag."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aftercare.models import AttendanceStatus, FlagStatus, RiskFlag, RiskRule, RiskRuleSetting
from aftercare.risk.engine import evaluate
from aftercare.risk.rules import RULES as RISK_RULES
from clinic.auth.scopes import SCOPES
from clinic.models import Clinic, Patient, Role
from tests.aftercare.factories import AppointmentFactory
from tests.conftest import Persona
from tests.factories import PatientFactory

FLAGS = "/api/v1/flags/"
RULES = "/api/v1/risk-rules/"
NOW = timezone.now().replace(microsecond=0)
A = AttendanceStatus


def missed_twice(patient: Patient, *, third: bool = False) -> None:
    statuses = [A.ATTENDED, A.MISSED, A.MISSED] + ([A.MISSED] if third else [])
    for index, status in enumerate(statuses):
        starts = NOW - datetime.timedelta(days=2 + 7 * (len(statuses) - index))
        AppointmentFactory.create(patient=patient, clinic=patient.clinic, starts_at=starts, attendance_status=status)


def flagged(clinic: Clinic, *, clinician: Any = None, third: bool = False) -> RiskFlag:
    patient = PatientFactory.create(
        clinic=clinic, assigned_clinician=clinician, intake_date=NOW.date() - datetime.timedelta(days=60)
    )
    missed_twice(patient, third=third)
    evaluate(patient_ids=[patient.pk])
    return RiskFlag.objects.get(patient=patient, rule=RiskRule.CONSECUTIVE_MISSED)


def ids(response: Any) -> set[str]:
    return {row["id"] for row in response.json()["results"]}


def test_flags_list_filters_by_status_severity_rule_patient_and_clinician(ehr_a: Persona, make_staff: Any) -> None:
    clinician = make_staff(ehr_a.clinic, Role.CLINICIAN).user
    medium = flagged(ehr_a.clinic, clinician=clinician)
    high = flagged(ehr_a.clinic, third=True)
    assert ids(ehr_a.api.get(FLAGS, {"rule": "consecutive_missed"})) == {str(medium.pk), str(high.pk)}
    assert ids(ehr_a.api.get(FLAGS, {"rule": "consecutive_missed", "severity": "high"})) == {str(high.pk)}
    assert ids(ehr_a.api.get(FLAGS, {"assigned_clinician": str(clinician.pk), "rule": "consecutive_missed"})) == {
        str(medium.pk)
    }
    assert ids(ehr_a.api.get(FLAGS, {"patient": str(high.patient_id), "status": "open"})) >= {str(high.pk)}
    assert ids(ehr_a.api.get(FLAGS, {"status": "resolved"})) == set()
    bad = ehr_a.api.get(FLAGS, {"severity": "catastrophic"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["attr"] == "severity"


def test_a_flag_shows_its_evidence_and_history(ehr_a: Persona) -> None:
    flag = flagged(ehr_a.clinic)
    body = ehr_a.api.get(f"{FLAGS}{flag.pk}/").json()
    assert [item["status"] for item in body["evidence"]] == ["missed", "missed"]
    assert [event["kind"] for event in body["history"]] == ["raised"]


def test_acknowledge_then_resolve_with_a_note(ehr_a: Persona, make_staff: Any) -> None:
    nurse = make_staff(ehr_a.clinic, Role.CLINICIAN)
    flag = flagged(ehr_a.clinic)
    acknowledged = nurse.api.post(f"{FLAGS}{flag.pk}/acknowledge/", {})
    assert acknowledged.status_code == 200, acknowledged.json()
    assert acknowledged.json()["acknowledged_by"] == str(nurse.user.pk)
    again = nurse.api.post(f"{FLAGS}{flag.pk}/acknowledge/", {})
    assert (again.status_code, again.json()["errors"][0]["attr"]) == (409, "status")

    no_note = nurse.api.post(f"{FLAGS}{flag.pk}/resolve/", {"note": "  "})
    assert (no_note.status_code, no_note.json()["errors"][0]["attr"]) == (400, "note")
    assert RiskFlag.objects.get(pk=flag.pk).status == FlagStatus.ACKNOWLEDGED

    resolved = nurse.api.post(f"{FLAGS}{flag.pk}/resolve/", {"note": "Reached by phone; rebooked."})
    assert resolved.status_code == 200
    body = resolved.json()
    assert (body["status"], body["resolution_note"], body["closed_by"]) == (
        "resolved",
        "Reached by phone; rebooked.",
        str(nurse.user.pk),
    )
    assert [event["kind"] for event in body["history"]] == ["raised", "acknowledged", "resolved"]
    assert nurse.api.post(f"{FLAGS}{flag.pk}/dismiss/", {"note": "x"}).status_code == 409


def test_an_ehrs_acknowledgement_and_resolution_name_the_client(ehr_a: Persona) -> None:
    flag = flagged(ehr_a.clinic)
    acknowledged = ehr_a.api.post(f"{FLAGS}{flag.pk}/acknowledge/", {}).json()
    assert acknowledged["acknowledged_by"] is None
    assert acknowledged["acknowledged_by_client"] == str(ehr_a.client.pk)  # type: ignore[union-attr]
    resolved = ehr_a.api.post(f"{FLAGS}{flag.pk}/resolve/", {"note": "Seen in clinic"}).json()
    assert resolved["closed_by"] is None
    assert resolved["closed_by_client"] == str(ehr_a.client.pk)  # type: ignore[union-attr]
    assert resolved["history"][-1]["by_client"] == str(ehr_a.client.pk)  # type: ignore[union-attr]


def test_dismiss_needs_a_note_too(ehr_a: Persona) -> None:
    flag = flagged(ehr_a.clinic)
    assert ehr_a.api.post(f"{FLAGS}{flag.pk}/dismiss/", {}).status_code == 400
    response = ehr_a.api.post(f"{FLAGS}{flag.pk}/dismiss/", {"note": "Known holiday."})
    assert response.json()["status"] == "dismissed"


def test_status_and_severity_cannot_be_written_through_the_body(ehr_a: Persona) -> None:
    flag = flagged(ehr_a.clinic)
    ehr_a.api.post(f"{FLAGS}{flag.pk}/acknowledge/", {"status": "resolved", "severity": "low"})
    flag.refresh_from_db()
    assert (flag.status, flag.severity) == ("acknowledged", "medium")


def test_another_clinics_flag_is_404_everywhere(ehr_a: Persona, ehr_b: Persona) -> None:
    theirs = flagged(ehr_b.clinic)
    assert ehr_a.api.get(f"{FLAGS}{theirs.pk}/").status_code == 404
    for verb in ("acknowledge", "resolve", "dismiss"):
        assert ehr_a.api.post(f"{FLAGS}{theirs.pk}/{verb}/", {"note": "x"}).status_code == 404
    assert str(theirs.pk) not in ids(ehr_a.api.get(FLAGS))
    assert RiskFlag.objects.get(pk=theirs.pk).status == FlagStatus.OPEN


def test_flag_scopes_and_roles(ehr_a: Persona, make_client: Any, make_staff: Any) -> None:
    flag = flagged(ehr_a.clinic)
    no_read = make_client(ehr_a.clinic, [s for s in SCOPES if s != "flags:read"])
    no_write = make_client(ehr_a.clinic, [s for s in SCOPES if s != "flags:write"])
    assert no_read.api.get(FLAGS).status_code == 403
    assert no_write.api.get(FLAGS).status_code == 200
    assert no_write.api.post(f"{FLAGS}{flag.pk}/acknowledge/", {}).status_code == 403
    front_desk = make_staff(ehr_a.clinic, Role.FRONT_DESK)
    assert front_desk.api.get(FLAGS).status_code == 403
    auditor = make_staff(ehr_a.clinic, Role.AUDITOR)
    assert auditor.api.get(FLAGS).status_code == 200
    assert auditor.api.post(f"{FLAGS}{flag.pk}/acknowledge/", {}).status_code == 403


# -- risk-rules/ --------------------------------------------------------------------------------


def test_every_rule_is_listed_with_its_basis_and_thresholds(ehr_a: Persona) -> None:
    rules = {rule["code"]: rule for rule in ehr_a.api.get(RULES).json()["results"]}
    assert set(rules) == set(RiskRule.values)
    assert rules["no_contact"]["thresholds"] == {"medium_days": 30, "high_days": 37}
    assert "Ker et al." in rules["no_contact"]["basis"]
    for code, rule in RISK_RULES.items():
        # Each names its source (a publication with its year or PubMed Central id, or a measure's steward).
        assert re.search(r"\b(19|20)\d\d\b|NCQA|PMC\d+", rules[code]["basis"]), code
        assert (rules[code]["basis"], rules[code]["stage"], rules[code]["title"]) == (
            rule.basis,
            rule.stage.value if rule.stage else None,
            rule.label,
        )
    assert rules["post_discharge_gap"]["thresholds"]["initiation_days"] == 7  # HEDIS FUI, not IET's 14


def test_an_admin_tunes_a_rule_and_bad_thresholds_are_named(ehr_a: Persona, make_staff: Any) -> None:
    admin = make_staff(ehr_a.clinic, Role.ADMIN)
    url = f"{RULES}consecutive_missed/"
    changed = admin.api.patch(url, {"thresholds": {"medium_at": 3, "high_at": 4}}, format="json")
    assert changed.status_code == 200, changed.json()
    assert changed.json()["thresholds"] == {"medium_at": 3, "high_at": 4}
    for body, attr in [
        ({"thresholds": {"medium_at": 0}}, "thresholds.medium_at"),
        ({"thresholds": {"high_at": 2}}, "thresholds.high_at"),  # below medium_at (3)
        ({"thresholds": {"weeks": 2}}, "thresholds.weeks"),
        ({"thresholds": {"medium_at": "many"}}, "thresholds.medium_at"),
        ({"enabled": "perhaps"}, "enabled"),
    ]:
        response = admin.api.patch(url, body, format="json")
        assert response.status_code == 400, body
        assert {error["attr"] for error in response.json()["errors"]} == {attr}, response.json()
    assert RiskRuleSetting.objects.get(clinic=ehr_a.clinic).thresholds == {"medium_at": 3, "high_at": 4}
    off = admin.api.patch(url, {"enabled": False}, format="json")
    assert off.json()["enabled"] is False
    assert admin.api.get(f"{RULES}nonsense/").status_code == 404


def test_only_an_admin_changes_the_rules(ehr_a: Persona, ehr_b: Persona, make_staff: Any, make_client: Any) -> None:
    url = f"{RULES}no_contact/"
    body = {"thresholds": {"medium_days": 20}}
    assert make_staff(ehr_a.clinic, Role.CLINICIAN).api.patch(url, body, format="json").status_code == 403
    without = make_client(ehr_a.clinic, [scope for scope in SCOPES if scope != "rules:write"])
    assert without.api.patch(url, body, format="json").status_code == 403  # an integration client
    make_staff(ehr_b.clinic, Role.ADMIN).api.patch(url, body, format="json")
    assert not RiskRuleSetting.objects.filter(clinic=ehr_a.clinic).exists()
    assert ehr_a.api.get(url).json()["thresholds"]["medium_days"] == 30  # clinic B's change is B's


# -- dashboard/ ---------------------------------------------------------------------------------


def test_summary_counts_open_flags_todays_sessions_and_the_attendance_rate(ehr_a: Persona, ehr_b: Persona) -> None:
    flagged(ehr_a.clinic)
    flagged(ehr_a.clinic, third=True)
    flagged(ehr_b.clinic, third=True)
    body = ehr_a.api.get("/api/v1/dashboard/summary/").json()
    assert body["open_flags"]["high"] >= 1
    assert body["open_flags"]["medium"] >= 1
    # Two patients: attended 1 + missed 2, and attended 1 + missed 3 (only those within 30 days count).
    assert body["attended_30d"] + body["missed_30d"] > 0
    assert 0 <= body["attendance_rate_30d"] <= 1


def test_caseload_is_the_callers_patients_most_at_risk_first(ehr_a: Persona, make_staff: Any) -> None:
    clinician = make_staff(ehr_a.clinic, Role.CLINICIAN)
    calm = PatientFactory.create(clinic=ehr_a.clinic, assigned_clinician=clinician.user)
    AppointmentFactory.create(patient=calm, clinic=ehr_a.clinic, starts_at=NOW - datetime.timedelta(days=1),
                              attendance_status=A.ATTENDED)  # fmt: skip
    medium = flagged(ehr_a.clinic, clinician=clinician.user)
    high = flagged(ehr_a.clinic, clinician=clinician.user, third=True)
    flagged(ehr_a.clinic)  # someone else's patient
    rows = clinician.api.get("/api/v1/dashboard/caseload/").json()["results"]
    assert [row["patient"] for row in rows] == [str(high.patient_id), str(medium.patient_id), str(calm.pk)]
    assert rows[0]["risk"] == "high"
    assert rows[2]["risk"] is None
    assert rows[2]["attendance_rate_30d"] == 1.0
    assert {flag["rule"] for flag in rows[0]["open_flags"]} >= {"consecutive_missed"}


def test_caseload_for_a_client_names_the_clinician(ehr_a: Persona, make_staff: Any) -> None:
    clinician = make_staff(ehr_a.clinic, Role.CLINICIAN).user
    flagged(ehr_a.clinic, clinician=clinician)
    response = ehr_a.api.get("/api/v1/dashboard/caseload/")
    assert (response.status_code, response.json()["errors"][0]["attr"]) == (400, "clinician")
    assert len(ehr_a.api.get("/api/v1/dashboard/caseload/", {"clinician": str(clinician.pk)}).json()["results"]) == 1


def test_dashboard_roles(ehr_a: Persona, make_staff: Any) -> None:
    assert make_staff(ehr_a.clinic, Role.FRONT_DESK).api.get("/api/v1/dashboard/summary/").status_code == 403
    assert make_staff(ehr_a.clinic, Role.AUDITOR).api.get("/api/v1/dashboard/summary/").status_code == 200


def test_another_clinics_clinician_has_no_caseload_here(ehr_a: Persona, ehr_b: Persona, make_staff: Any) -> None:
    theirs = make_staff(ehr_b.clinic, Role.CLINICIAN).user
    flagged(ehr_b.clinic, clinician=theirs)
    assert ehr_a.api.get("/api/v1/dashboard/caseload/", {"clinician": str(theirs.pk)}).json()["results"] == []


@pytest.mark.parametrize("size", [10, 1000])
def test_caseload_query_count_is_the_same_for_10_and_1000_patients(ehr_a: Persona, make_staff: Any, size: int) -> None:
    clinician = make_staff(ehr_a.clinic, Role.CLINICIAN)
    patients = PatientFactory.create_batch(size, clinic=ehr_a.clinic, assigned_clinician=clinician.user)
    evaluate(patient_ids=[patient.pk for patient in patients])  # no_contact flags for all of them
    page = {"page_size": 200}  # the largest page: 10 rows, then 200 of the 1000
    clinician.api.get("/api/v1/dashboard/caseload/", page)  # warm: session and permission lookups
    with CaptureQueriesContext(connection) as queries:
        rows = clinician.api.get("/api/v1/dashboard/caseload/", page).json()["results"]
    assert len(rows) == min(size, 200)
    assert all(row["open_flags"] for row in rows)
    # The caller (session, user, authenticator device, membership), five for the caseload (the
    # ranking between nested loops off and back, the rows' figures, the open flags), and the
    # access event naming the patients it returned.
    assert len(queries) == CASELOAD_QUERIES


CASELOAD_QUERIES = 10


# -- the email about a high flag ----------------------------------------------------------------


def test_a_new_high_flag_emails_the_assigned_clinician_once_without_patient_detail(
    ehr_a: Persona, make_staff: Any, django_capture_on_commit_callbacks: Any
) -> None:
    clinician = make_staff(ehr_a.clinic, Role.CLINICIAN).user
    clinician.email = "dr.ruiz@clinic.example.org"
    clinician.save()
    patient = PatientFactory.create(clinic=ehr_a.clinic, assigned_clinician=clinician,
                                    intake_date=NOW.date() - datetime.timedelta(days=10))  # fmt: skip
    missed_twice(patient)
    with django_capture_on_commit_callbacks(execute=True):
        evaluate(patient_ids=[patient.pk])  # medium: no email
    assert mail.outbox == []
    AppointmentFactory.create(patient=patient, clinic=ehr_a.clinic, starts_at=NOW - datetime.timedelta(hours=5),
                              attendance_status=A.MISSED)  # fmt: skip
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            evaluate(patient_ids=[patient.pk])  # escalated to high, then unchanged
    (message,) = mail.outbox
    assert message.to == ["dr.ruiz@clinic.example.org"]
    flag = RiskFlag.objects.get(patient=patient, rule=RiskRule.CONSECUTIVE_MISSED)
    assert str(flag.pk) in message.body
    assert isinstance(message, EmailMultiAlternatives)
    html = message.alternatives[0][0]
    text = f"{message.subject}\n{message.body}\n{html!s}"
    for detail in (patient.given_name, patient.family_name, patient.email, "missed", "consecutive"):
        assert detail.lower() not in text.lower()
    # A redelivered notification task sends nothing more.
    from tasks.risk import flags_notify

    flags_notify.delay([str(flag.pk)])
    assert len(mail.outbox) == 1


def test_recording_attendance_evaluates_the_patient_after_commit(
    ehr_a: Persona, django_capture_on_commit_callbacks: Any
) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic, intake_date=NOW.date() - datetime.timedelta(days=5))
    AppointmentFactory.create(patient=patient, clinic=ehr_a.clinic, starts_at=NOW - datetime.timedelta(days=3),
                              attendance_status=A.MISSED)  # fmt: skip
    second = AppointmentFactory.create(patient=patient, clinic=ehr_a.clinic, starts_at=NOW - datetime.timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = ehr_a.api.post(f"/api/v1/appointments/{second.pk}/attendance/", {"status": "missed"})
    assert response.status_code == 200, response.json()
    assert not RiskFlag.objects.exists(), "nothing is evaluated before the attendance is committed"
    for callback in callbacks:
        callback()
    assert RiskFlag.objects.get(patient=patient, rule=RiskRule.CONSECUTIVE_MISSED).severity == "medium"


def test_recording_group_attendance_evaluates_everyone_recorded(
    ehr_a: Persona, django_capture_on_commit_callbacks: Any
) -> None:
    from tests.aftercare.factories import group_dropout_ahead

    patient, latest = group_dropout_ahead(ehr_a.clinic, now=NOW)
    with django_capture_on_commit_callbacks(execute=True):
        response = ehr_a.api.post(
            f"/api/v1/group-sessions/{latest.pk}/attendance/",
            {"attendance": [{"patient": str(patient.pk), "status": "missed"}]},
            format="json",
        )
    assert response.status_code == 200, response.json()
    assert RiskFlag.objects.filter(patient=patient, rule=RiskRule.GROUP_DROPOUT).count() == 1
