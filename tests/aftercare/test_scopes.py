"""Every aftercare endpoint asks for its scope: reads for the read scope, writes for the write
scope; auditors read and never write; front desk schedules but sees no plans."""

from __future__ import annotations

from typing import Any

import pytest

from clinic.auth.scopes import SCOPES
from clinic.models import Role
from tests.aftercare.factories import AppointmentFactory, GroupSessionFactory, PlanFactory, SupportGroupFactory
from tests.conftest import Persona
from tests.factories import PatientFactory

# endpoint: (read scope, write scope)
ENDPOINTS = {
    "/api/v1/plans/": ("plans:read", "plans:write"),
    "/api/v1/appointments/": ("schedule:read", "schedule:write"),
    "/api/v1/appointment-series/": ("schedule:read", "schedule:write"),
    "/api/v1/support-groups/": ("schedule:read", "schedule:write"),
    "/api/v1/group-sessions/": ("schedule:read", "schedule:write"),
    "/api/v1/outside-meetings/": ("schedule:read", "attendance:write"),
}


@pytest.mark.parametrize("url", list(ENDPOINTS))
def test_a_client_without_the_read_scope_cannot_list(ehr_a: Persona, make_client: Any, url: str) -> None:
    read, _ = ENDPOINTS[url]
    without = make_client(ehr_a.clinic, [scope for scope in SCOPES if scope != read])
    only = make_client(ehr_a.clinic, [read])
    assert without.api.get(url).status_code == 403
    assert only.api.get(url).status_code == 200


@pytest.mark.parametrize("url", list(ENDPOINTS))
def test_a_client_without_the_write_scope_cannot_create(ehr_a: Persona, make_client: Any, url: str) -> None:
    _, write = ENDPOINTS[url]
    without = make_client(ehr_a.clinic, [scope for scope in SCOPES if scope != write])
    response = without.api.post(url, {})
    assert response.status_code == 403
    assert write in response.json()["errors"][0]["detail"]
    # With the scope, the same empty body reaches validation instead.
    assert make_client(ehr_a.clinic, [write]).api.post(url, {}).status_code == 400


@pytest.mark.parametrize("url", list(ENDPOINTS))
def test_an_auditor_reads_everything_and_writes_nothing(ehr_a: Persona, make_staff: Any, url: str) -> None:
    auditor = make_staff(ehr_a.clinic, Role.AUDITOR)
    assert auditor.api.get(url).status_code == 200
    assert auditor.api.post(url, {}).status_code == 403


@pytest.mark.parametrize("url", [u for u in ENDPOINTS if u != "/api/v1/plans/"])
def test_front_desk_works_the_schedule(ehr_a: Persona, make_staff: Any, url: str) -> None:
    front_desk = make_staff(ehr_a.clinic, Role.FRONT_DESK)
    assert front_desk.api.get(url).status_code == 200
    assert front_desk.api.post(url, {}).status_code == 400  # allowed; the empty body is what fails


def test_sub_resources_ask_for_their_own_scopes(ehr_a: Persona, make_client: Any) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    appointment = AppointmentFactory.create(clinic=ehr_a.clinic, patient=patient)
    session = GroupSessionFactory.create(group=SupportGroupFactory.create(clinic=ehr_a.clinic))
    plan = PlanFactory.create(patient=patient)
    reader = make_client(ehr_a.clinic, ["schedule:read", "plans:read"])
    for url in (
        f"/api/v1/appointments/{appointment.pk}/attendance/",
        f"/api/v1/group-sessions/{session.pk}/attendance/",
    ):
        assert reader.api.get(url).status_code == 200
        assert reader.api.post(url, {}).status_code == 403
    assert reader.api.post(f"/api/v1/plans/{plan.pk}/complete/", {}).status_code == 403
    assert reader.api.post(f"/api/v1/support-groups/{session.group_id}/members/", {}).status_code == 403


# -- risk-rules/: `rules:write` -----------------------------------------------------------------

RULE = "/api/v1/risk-rules/no_contact/"
TUNE = {"thresholds": {"medium_days": 20}}


def test_a_client_granted_rules_write_tunes_the_risk_rules(ehr_a: Persona, make_client: Any) -> None:
    tuner = make_client(ehr_a.clinic, ["flags:read", "rules:write"])
    response = tuner.api.patch(RULE, TUNE, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["thresholds"]["medium_days"] == 20


def test_a_client_without_rules_write_cannot_tune_the_risk_rules(ehr_a: Persona, make_client: Any) -> None:
    without = make_client(ehr_a.clinic, [scope for scope in SCOPES if scope != "rules:write"])
    response = without.api.patch(RULE, TUNE, format="json")
    assert response.status_code == 403
    assert "rules:write" in response.json()["errors"][0]["detail"]


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.CASE_MANAGER, Role.FRONT_DESK, Role.AUDITOR])
def test_only_the_admin_role_holds_rules_write(ehr_a: Persona, make_staff: Any, role: str) -> None:
    assert make_staff(ehr_a.clinic, role).api.patch(RULE, TUNE, format="json").status_code == 403
    assert make_staff(ehr_a.clinic, Role.ADMIN).api.patch(RULE, TUNE, format="json").status_code == 200
