"""The staff page: a clinic admin invites staff, changes roles, ends memberships and resets MFA,
for their own clinic only."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.apps import apps
from django.core import mail
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.models import AccessEvent, Clinic, Patient, Role, StaffMembership, User
from clinic.services.mfa import mfa_enroll
from tests.factories import ClinicFactory, MembershipFactory, PatientFactory

StaffClient = Callable[..., tuple[Client, User]]
PUBLIC = "https://dashboard.example.org"
INVITE = {
    "invite-first_name": "Nadia",
    "invite-last_name": "Okafor",
    "invite-email": "nadia@example.org",
    "invite-username": "nadia.okafor",
    "invite-role": Role.CASE_MANAGER,
}


@pytest.fixture
def clinic(db: None) -> Clinic:
    return ClinicFactory.create()


@pytest.fixture
def admin(clinic: Clinic, staff_client: StaffClient) -> tuple[Client, User]:
    return staff_client(clinic, Role.ADMIN)


def _history(membership: StaffMembership) -> Any:
    return apps.get_model("clinic", "StaffMembershipHistory").objects.filter(pgh_obj_id=membership.pk)


def _invite(client: Client, settings: Any, capture: Any, **changes: str) -> Any:
    settings.AFTERCARE_PUBLIC_URL = PUBLIC
    with capture(execute=True):
        return client.post("/staff/", {**INVITE, **changes}, HTTP_HOST="127.0.0.1")


def _link_path(response: Any) -> str:
    match = re.search(r'value="https://dashboard\.example\.org(/invite/[^"]+/)"', response.content.decode())
    assert match is not None
    return match.group(1)


# --- the list -------------------------------------------------------------------------------------


def test_the_admin_sees_every_member_with_role_activity_mfa_and_last_sign_in(
    clinic: Clinic, admin: tuple[Client, User]
) -> None:
    client, _ = admin
    enrolled = MembershipFactory.create(
        clinic=clinic, role=Role.FRONT_DESK, user__first_name="Tom", user__last_name="Kowal"
    )
    mfa_enroll(user=enrolled.user)
    MembershipFactory.create(
        clinic=clinic, role=Role.AUDITOR, is_active=False, user__first_name="Grace", user__last_name="Holl"
    )
    MembershipFactory.create(user__first_name="Other", user__last_name="Clinicstaff")  # another clinic
    response = client.get("/staff/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Tom Kowal" in body
    assert "Front desk" in body
    assert "Set up" in body
    assert "Grace Holl" in body
    assert "Ended" in body
    assert "Not set up" in body
    assert "Other Clinicstaff" not in body
    assert str(enrolled.user.pk) not in body  # people by name, never by id


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.CASE_MANAGER, Role.FRONT_DESK, Role.AUDITOR])
def test_every_role_but_admin_is_refused_the_staff_pages(clinic: Clinic, staff_client: StaffClient, role: str) -> None:
    client, user = staff_client(clinic, role)
    other = MembershipFactory.create(clinic=clinic)
    assert client.get("/staff/").status_code == 403
    assert client.post("/staff/", INVITE).status_code == 403
    assert client.get(f"/staff/{other.pk}/").status_code == 403
    refused = client.post(f"/staff/{other.pk}/", {"action": "end", "end-unassign_patients": "on"})
    assert refused.status_code == 403
    assert StaffMembership.objects.get(pk=other.pk).is_active
    assert not User.objects.filter(username=INVITE["invite-username"]).exists()
    assert AccessEvent.objects.filter(user=user, action="denied", status_code=403).count() == 4


def test_another_clinics_member_is_a_404_page_and_a_denied_event(clinic: Clinic, admin: tuple[Client, User]) -> None:
    client, user = admin
    foreign = MembershipFactory.create()
    mfa_enroll(user=foreign.user)
    assert client.get(f"/staff/{foreign.pk}/").status_code == 404
    response = client.post(f"/staff/{foreign.pk}/", {"action": "mfa", "mfa-confirm": "on"})
    assert response.status_code == 404
    assert TOTPDevice.objects.filter(user=foreign.user).exists()
    denied = AccessEvent.objects.filter(user=user, action="denied", status_code=404)
    assert denied.count() == 2
    assert all(event.object_ids == [foreign.pk] for event in denied)


@pytest.mark.parametrize("members", [5, 40])
def test_the_staff_page_costs_the_same_queries_for_5_or_40_members(
    clinic: Clinic, admin: tuple[Client, User], members: int, django_assert_max_num_queries: Any
) -> None:
    client, _ = admin
    for membership in MembershipFactory.create_batch(members, clinic=clinic):
        mfa_enroll(user=membership.user)
        PatientFactory.create(clinic=clinic, assigned_clinician=membership.user)
    with django_assert_max_num_queries(5):
        response = client.get("/staff/")
    assert response.status_code == 200
    assert len(re.findall(r'href="/staff/[0-9a-f-]{36}/"', response.content.decode())) == members + 1


# --- invitations ----------------------------------------------------------------------------------


def test_inviting_creates_an_account_without_a_password_and_emails_a_link_on_the_public_address(
    clinic: Clinic, admin: tuple[Client, User], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client, admin_user = admin
    response = _invite(client, settings, django_capture_on_commit_callbacks)
    assert response.status_code == 302
    user = User.objects.get(username="nadia.okafor")
    assert not user.has_usable_password()
    membership = StaffMembership.objects.get(user=user, clinic=clinic)
    assert membership.role == Role.CASE_MANAGER
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["nadia@example.org"]
    page = client.get("/staff/")
    path = _link_path(page)
    assert f"{PUBLIC}{path}" in message.body
    assert "127.0.0.1" not in message.body
    # Shown once to the admin (copyable), not on every later visit.
    assert path not in client.get("/staff/").content.decode()
    assert AccessEvent.objects.filter(user=admin_user, action="create", object_ids=[membership.pk]).exists()
    insert = _history(membership).get(pgh_label="insert")
    assert insert.pgh_context.metadata["actor"] == f"user:{admin_user.pk}"


def test_an_invitation_with_a_taken_username_or_a_bad_email_changes_nothing(
    clinic: Clinic, admin: tuple[Client, User], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client, _ = admin
    MembershipFactory.create(user__username="Nadia.Okafor")
    taken = _invite(client, settings, django_capture_on_commit_callbacks)
    assert taken.status_code == 200
    assert 'id="id_invite-username_error"' in taken.content.decode()
    bad = _invite(client, settings, django_capture_on_commit_callbacks, **{"invite-username": "n", "invite-email": "x"})
    assert bad.status_code == 200
    assert 'id="id_invite-email_error"' in bad.content.decode()
    assert not User.objects.filter(username="n").exists()
    assert StaffMembership.objects.filter(clinic=clinic).count() == 1
    assert mail.outbox == []


def test_the_invitation_link_works_once_then_leads_to_enrolment(
    clinic: Clinic, admin: tuple[Client, User], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client, _ = admin
    _invite(client, settings, django_capture_on_commit_callbacks)
    path = _link_path(client.get("/staff/"))
    invitee = Client()
    page = invitee.get(path)
    assert page.status_code == 200
    assert "nadia.okafor" in page.content.decode()
    weak = invitee.post(path, {"new_password1": "short", "new_password2": "short"})
    assert weak.status_code == 200
    assert "too short" in weak.content.decode()
    assert not User.objects.get(username="nadia.okafor").has_usable_password()
    chosen = "river bend morning walk 42"
    done = invitee.post(path, {"new_password1": chosen, "new_password2": chosen})
    assert done.status_code == 302
    assert done["Location"] == "/enrol/"
    assert User.objects.get(username="nadia.okafor").check_password(chosen)
    assert "_auth_user_id" not in invitee.session  # signed in only after enrolment
    assert invitee.get("/enrol/").status_code == 200
    # Used: a clear page, and nothing changes.
    again = Client().post(path, {"new_password1": "another pass phrase 99", "new_password2": "another pass phrase 99"})
    assert again.status_code == 404
    assert "no longer works" in again.content.decode()
    assert User.objects.get(username="nadia.okafor").check_password(chosen)


def test_an_expired_invitation_link_says_so_and_changes_nothing(
    clinic: Clinic, admin: tuple[Client, User], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.AFTERCARE_INVITE_HOURS = 72
    client, _ = admin
    with time_machine.travel("2026-12-01 09:00:00+00:00", tick=False):
        _invite(client, settings, django_capture_on_commit_callbacks)
        path = _link_path(client.get("/staff/"))
    with time_machine.travel("2026-12-04 08:59:00+00:00", tick=False):
        assert Client().get(path).status_code == 200
    with time_machine.travel("2026-12-04 09:01:00+00:00", tick=False):
        expired = Client().post(path, {"new_password1": "river bend 42 walk", "new_password2": "river bend 42 walk"})
    assert expired.status_code == 404
    assert "no longer works" in expired.content.decode()
    assert not User.objects.get(username="nadia.okafor").has_usable_password()


def test_a_made_up_invitation_link_is_the_same_clear_page(db: None) -> None:
    response = Client().get("/invite/Zm9v/abc-def/")
    assert response.status_code == 404
    assert "no longer works" in response.content.decode()


def test_a_pending_invitee_can_be_sent_a_new_link(
    clinic: Clinic, admin: tuple[Client, User], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client, _ = admin
    _invite(client, settings, django_capture_on_commit_callbacks)
    membership = StaffMembership.objects.get(user__username="nadia.okafor")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/staff/{membership.pk}/", {"action": "link"})
    assert response.status_code == 302
    assert len(mail.outbox) == 2
    assert Client().get(_link_path(client.get(f"/staff/{membership.pk}/"))).status_code == 200


# --- role, end of membership, MFA reset -----------------------------------------------------------


def test_a_role_change_that_leaves_patients_behind_asks_who_takes_them_over(
    clinic: Clinic, admin: tuple[Client, User]
) -> None:
    client, admin_user = admin
    clinician = MembershipFactory.create(clinic=clinic, role=Role.CLINICIAN)
    successor = MembershipFactory.create(clinic=clinic, role=Role.CLINICIAN, user__first_name="Lucia")
    patients = PatientFactory.create_batch(2, clinic=clinic, assigned_clinician=clinician.user)
    asked = client.post(f"/staff/{clinician.pk}/", {"action": "role", "role-role": Role.FRONT_DESK})
    assert asked.status_code == 200
    assert 'id="id_role-reassign_to_error"' in asked.content.decode()
    assert StaffMembership.objects.get(pk=clinician.pk).role == Role.CLINICIAN
    done = client.post(
        f"/staff/{clinician.pk}/",
        {"action": "role", "role-role": Role.FRONT_DESK, "role-reassign_to": str(successor.user.pk)},
    )
    assert done.status_code == 302
    assert StaffMembership.objects.get(pk=clinician.pk).role == Role.FRONT_DESK
    assert set(
        Patient.objects.filter(pk__in=[p.pk for p in patients]).values_list("assigned_clinician", flat=True)
    ) == {successor.user.pk}
    update = _history(clinician).get(pgh_label="update")
    assert update.role == Role.FRONT_DESK
    assert update.pgh_context.metadata["actor"] == f"user:{admin_user.pk}"
    patient_update = apps.get_model("clinic", "PatientHistory").objects.filter(
        pgh_obj_id=patients[0].pk, pgh_label="update"
    )
    assert patient_update.get().pgh_context.metadata["actor"] == f"user:{admin_user.pk}"
    assert AccessEvent.objects.filter(user=admin_user, action="update", object_ids=[clinician.pk]).exists()


def test_ending_a_membership_can_leave_the_patients_unassigned(clinic: Clinic, admin: tuple[Client, User]) -> None:
    client, admin_user = admin
    clinician = MembershipFactory.create(clinic=clinic, role=Role.CLINICIAN)
    patient = PatientFactory.create(clinic=clinic, assigned_clinician=clinician.user)
    response = client.post(f"/staff/{clinician.pk}/", {"action": "end", "end-unassign_patients": "on"})
    assert response.status_code == 302
    assert not StaffMembership.objects.get(pk=clinician.pk).is_active
    patient.refresh_from_db()
    assert patient.assigned_clinician is None
    assert _history(clinician).get(pgh_label="update").pgh_context.metadata["actor"] == f"user:{admin_user.pk}"


def test_an_admin_cannot_demote_or_end_themselves_as_the_last_admin(clinic: Clinic, admin: tuple[Client, User]) -> None:
    client, admin_user = admin
    own = StaffMembership.objects.get(user=admin_user, clinic=clinic)
    demoted = client.post(f"/staff/{own.pk}/", {"action": "role", "role-role": Role.AUDITOR})
    assert demoted.status_code == 200
    assert "no admin left" in demoted.content.decode()
    ended = client.post(f"/staff/{own.pk}/", {"action": "end"})
    assert ended.status_code == 200
    assert "no admin left" in ended.content.decode()
    own.refresh_from_db()
    assert (own.role, own.is_active) == (Role.ADMIN, True)
    # With a second admin, stepping down is fine.
    MembershipFactory.create(clinic=clinic, role=Role.ADMIN)
    assert client.post(f"/staff/{own.pk}/", {"action": "role", "role-role": Role.AUDITOR}).status_code == 302
    own.refresh_from_db()
    assert own.role == Role.AUDITOR


def test_resetting_mfa_needs_a_confirmation_removes_the_devices_and_signs_the_member_out(
    clinic: Clinic, admin: tuple[Client, User], staff_client: StaffClient
) -> None:
    client, admin_user = admin
    member_client, member = staff_client(clinic, Role.CLINICIAN)
    mfa_enroll(user=member)
    membership = StaffMembership.objects.get(user=member, clinic=clinic)
    unconfirmed = client.post(f"/staff/{membership.pk}/", {"action": "mfa"})
    assert unconfirmed.status_code == 200
    assert 'id="id_mfa-confirm_error"' in unconfirmed.content.decode()
    assert TOTPDevice.objects.filter(user=member).exists()
    done = client.post(f"/staff/{membership.pk}/", {"action": "mfa", "mfa-confirm": "on"})
    assert done.status_code == 302
    assert not TOTPDevice.objects.filter(user=member).exists()
    assert not StaticDevice.objects.filter(user=member).exists()
    # Their open session is no longer signed in with a second factor.
    assert member_client.get("/staff/")["Location"].startswith("/sign-in/")
    assert AccessEvent.objects.filter(user=admin_user, action="update", object_ids=[membership.pk]).exists()


# --- several clinics ------------------------------------------------------------------------------


def test_a_member_of_two_clinics_sees_the_second_after_switching_and_never_a_third(
    clinic: Clinic, admin: tuple[Client, User]
) -> None:
    client, admin_user = admin
    second = ClinicFactory.create(name="Second Street Clinic")
    MembershipFactory.create(user=admin_user, clinic=second, role=Role.ADMIN)
    third = ClinicFactory.create(name="Third Clinic")
    here = MembershipFactory.create(clinic=clinic, user__first_name="Alma", user__last_name="Here")
    there = MembershipFactory.create(clinic=second, user__first_name="Bea", user__last_name="There")
    elsewhere = MembershipFactory.create(clinic=third, user__first_name="Cy", user__last_name="Elsewhere")
    client.post("/clinic/", {"clinic": str(second.pk)})
    body = client.get("/staff/").content.decode()
    assert "Bea There" in body
    assert "Alma Here" not in body
    assert client.get(f"/staff/{here.pk}/").status_code == 404
    assert client.get(f"/staff/{there.pk}/").status_code == 200
    client.post("/clinic/", {"clinic": str(third.pk)})  # not theirs: nothing changes
    body = client.get("/staff/").content.decode()
    assert "Bea There" in body
    assert "Cy Elsewhere" not in body
    assert client.get(f"/staff/{elsewhere.pk}/").status_code == 404
    client.post("/clinic/", {"clinic": str(clinic.pk)})
    assert "Alma Here" in client.get("/staff/").content.decode()


@pytest.mark.parametrize("staff_count", [3, 30])
def test_a_members_page_costs_the_same_queries_whatever_the_clinic_size(
    clinic: Clinic, admin: tuple[Client, User], staff_count: int, django_assert_max_num_queries: Any
) -> None:
    client, _ = admin
    member = MembershipFactory.create(clinic=clinic, role=Role.CLINICIAN)
    mfa_enroll(user=member.user)
    for colleague in MembershipFactory.create_batch(staff_count, clinic=clinic, role=Role.CLINICIAN):
        PatientFactory.create_batch(2, clinic=clinic, assigned_clinician=colleague.user)
    PatientFactory.create_batch(staff_count, clinic=clinic, assigned_clinician=member.user)
    with django_assert_max_num_queries(9):
        response = client.get(f"/staff/{member.pk}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert f"<dd>{staff_count}</dd>" in body  # patients assigned
    assert body.count("<option") >= 2 * (staff_count + 1)  # successors offered in both forms
