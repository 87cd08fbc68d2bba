"""Groups and a session's roster: members preset to attended, exceptions per row, one Save;
changing a recorded mark needs a reason (and a clinician)."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from aftercare.models import GroupAttendance, GroupMembership, GroupSession
from clinic.models import AccessAction, AccessEvent, Clinic, Patient, Role, User
from tests.aftercare.factories import GroupSessionFactory, SupportGroupFactory, latest_change
from tests.factories import ClinicFactory, PatientFactory

StaffClient = Callable[..., tuple[Client, User]]


@pytest.fixture
def clinic(db: None) -> Clinic:
    return ClinicFactory.create(time_zone="UTC")


def session_with(
    clinic: Clinic, members: int, *, starts_at: datetime.datetime | None = None
) -> tuple[GroupSession, list[Patient]]:
    group = SupportGroupFactory.create(clinic=clinic, name=f"Evening peers {members}")
    starts_at = starts_at or timezone.now() - datetime.timedelta(hours=1)
    session = GroupSessionFactory.create(
        group=group, starts_at=starts_at, ends_at=starts_at + datetime.timedelta(hours=1)
    )
    patients = []
    for _ in range(members):
        patient = PatientFactory.create(clinic=clinic)
        GroupMembership.objects.create(
            group=group, patient=patient, joined_on=starts_at.date() - datetime.timedelta(days=30)
        )
        patients.append(patient)
    return session, patients


def all_attended(patients: list[Patient], **exceptions: str) -> dict[str, str]:
    data = {f"status-{p.pk}": "attended" for p in patients}
    data.update(exceptions)
    return data


def full_name(patient: Patient) -> str:
    return f"{patient.given_name} {patient.family_name}"


def test_the_roster_lists_members_on_the_sessions_date_preset_to_attended(
    staff_client: StaffClient, clinic: Clinic
) -> None:
    client, _ = staff_client(clinic, Role.CLINICIAN)
    session, members = session_with(clinic, 3)
    left = PatientFactory.create(clinic=clinic)
    GroupMembership.objects.create(
        group=session.group, patient=left, joined_on=datetime.date(2020, 1, 1), left_on=datetime.date(2020, 6, 1)
    )
    page = client.get(f"/group-sessions/{session.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    for patient in members:
        assert full_name(patient) in html
        assert '<option value="attended" selected>' in html
    assert full_name(left) not in html
    assert html.count('<option value="attended" selected>') == 3
    assert html.count('<form method="post" class="roster"') == 1
    event = AccessEvent.objects.get(action=AccessAction.VIEW, object_type="group_session")
    assert set(event.patient_ids) == {p.pk for p in members}


def test_one_save_records_everyone_with_one_exception(staff_client: StaffClient, clinic: Clinic) -> None:
    client, user = staff_client(clinic, Role.FRONT_DESK)
    session, members = session_with(clinic, 4)
    response = client.post(
        f"/group-sessions/{session.pk}/", all_attended(members, **{f"status-{members[2].pk}": "missed"})
    )
    assert response.status_code == 302
    statuses = dict(GroupAttendance.objects.filter(session=session).values_list("patient_id", "status"))
    assert statuses == {p.pk: ("missed" if p == members[2] else "attended") for p in members}
    row = GroupAttendance.objects.get(session=session, patient=members[2])
    assert row.recorded_by == user
    assert latest_change(row).pgh_context.metadata["actor"].endswith(str(user.pk))
    assert AccessEvent.objects.filter(user=user, action=AccessAction.UPDATE, object_ids=[session.pk]).exists()
    again = client.get(f"/group-sessions/{session.pk}/").content.decode()
    assert '<option value="missed" selected>' in again


def test_changing_a_recorded_mark_needs_a_reason_next_to_its_row(staff_client: StaffClient, clinic: Clinic) -> None:
    client, _ = staff_client(clinic, Role.CLINICIAN)
    session, members = session_with(clinic, 3)
    url = f"/group-sessions/{session.pk}/"
    client.post(url, all_attended(members, **{f"status-{members[0].pk}": "missed"}))
    refused = client.post(url, all_attended(members))
    assert refused.status_code == 200  # the form again, with the error by its field
    assert "Say why the recorded attendance is being corrected." in refused.content.decode()
    assert GroupAttendance.objects.get(session=session, patient=members[0]).status == "missed"
    fixed = client.post(url, all_attended(members, **{f"reason-{members[0].pk}": "Signed in late"}))
    assert fixed.status_code == 302
    row = GroupAttendance.objects.get(session=session, patient=members[0])
    assert (row.status, row.reason) == ("attended", "Signed in late")


def test_front_desk_cannot_change_a_recorded_group_mark(staff_client: StaffClient, clinic: Clinic) -> None:
    client, _ = staff_client(clinic, Role.FRONT_DESK)
    session, members = session_with(clinic, 2)
    url = f"/group-sessions/{session.pk}/"
    client.post(url, all_attended(members))
    change = all_attended(members, **{f"status-{members[1].pk}": "excused", f"reason-{members[1].pk}": "Sick note"})
    refused = client.post(url, change)
    assert refused.status_code == 200  # the form again, with the error by its field
    assert "Only clinical staff" in refused.content.decode()
    assert GroupAttendance.objects.get(session=session, patient=members[1]).status == "attended"


def test_a_roster_before_the_session_starts_has_no_save(staff_client: StaffClient, clinic: Clinic) -> None:
    client, _ = staff_client(clinic, Role.CLINICIAN)
    session, members = session_with(clinic, 2, starts_at=timezone.now() + datetime.timedelta(hours=2))
    html = client.get(f"/group-sessions/{session.pk}/").content.decode()
    assert "once the session starts" in html
    assert "Save attendance" not in html
    assert client.post(f"/group-sessions/{session.pk}/", all_attended(members)).status_code == 403
    assert not GroupAttendance.objects.exists()


def test_an_auditor_reads_the_roster_without_a_form_and_cannot_post(staff_client: StaffClient, clinic: Clinic) -> None:
    client, _ = staff_client(clinic, Role.AUDITOR)
    session, members = session_with(clinic, 2)
    html = client.get(f"/group-sessions/{session.pk}/").content.decode()
    assert full_name(members[0]) in html
    assert "Save attendance" not in html
    assert "<select" not in html.split("<main", 1)[1]
    assert client.post(f"/group-sessions/{session.pk}/", all_attended(members)).status_code == 403
    assert not GroupAttendance.objects.exists()


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.FRONT_DESK, Role.AUDITOR])
def test_another_clinics_session_is_a_404_page_and_denied(staff_client: StaffClient, clinic: Clinic, role: str) -> None:
    client, user = staff_client(clinic, role)
    session, members = session_with(ClinicFactory.create(), 2)
    page = client.get(f"/group-sessions/{session.pk}/")
    assert page.status_code == 404
    assert full_name(members[0]) not in page.content.decode()
    assert AccessEvent.objects.filter(user=user, action=AccessAction.DENIED, object_ids=[session.pk]).exists()
    if role != Role.AUDITOR:
        assert client.post(f"/group-sessions/{session.pk}/", all_attended(members)).status_code == 404
    assert not GroupAttendance.objects.exists()
    assert session.group.name not in client.get("/groups/").content.decode()


def test_groups_list_upcoming_and_recent_sessions_with_roster_links(staff_client: StaffClient, clinic: Clinic) -> None:
    client, _ = staff_client(clinic, Role.FRONT_DESK)
    past, _ = session_with(clinic, 1)
    upcoming = GroupSessionFactory.create(
        group=past.group,
        starts_at=timezone.now() + datetime.timedelta(days=2),
        ends_at=timezone.now() + datetime.timedelta(days=2, hours=1),
    )
    html = client.get("/groups/").content.decode()
    assert past.group.name in html
    assert f"/group-sessions/{past.pk}/" in html
    assert f"/group-sessions/{upcoming.pk}/" in html
    assert html.index("Upcoming") < html.index(f"/group-sessions/{upcoming.pk}/") < html.index("Recent")
    assert "Facility group" not in html  # the kind of group is clinical detail


@pytest.mark.parametrize("method", ["get", "post"])
def test_the_roster_costs_the_same_queries_for_5_and_40_members(
    staff_client: StaffClient, clinic: Clinic, method: str, django_assert_num_queries: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client, _ = staff_client(clinic, Role.CLINICIAN)

    def cost(members: int) -> int:
        session, patients = session_with(clinic, members)
        url = f"/group-sessions/{session.pk}/"
        data = all_attended(patients, **{f"status-{patients[0].pk}": "late"})
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url) if method == "get" else client.post(url, data)
        assert response.status_code == (200 if method == "get" else 302)
        if method == "post":
            assert GroupAttendance.objects.filter(session=session).count() == members
        return len(queries)

    few, many = cost(5), cost(40)
    assert few == many
