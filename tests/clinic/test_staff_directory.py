"""The staff directory (`/api/v1/staff/`), the EHR's provider ids on memberships, booking by
`clinician_external_id`, and `manage.py create_staff`."""

from __future__ import annotations

import datetime
import io
import json
import uuid
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from aftercare.models import Appointment, AppointmentSeries
from aftercare.services.staff import invite_user
from clinic.models import AccessEvent, Clinic, Role, StaffMembership, User
from clinic.models.organisation import npi_check_digit_valid
from clinic.services.clinics import membership_identifiers_set
from tests.clinic.test_admin_own_clinic import form_errors, membership_form, signed_in
from tests.conftest import Persona
from tests.factories import MembershipFactory, PatientFactory, UserFactory

LIST = "/api/v1/staff/"
APPOINTMENTS = "/api/v1/appointments/"
SERIES = "/api/v1/appointment-series/"
CASELOAD = "/api/v1/dashboard/caseload/"
# Published examples of valid NPIs (CMS's check-digit paper uses 123456789 -> 3).
VALID_NPI = "1234567893"
OTHER_VALID_NPI = "1245319599"


def detail(user: User | uuid.UUID | str) -> str:
    return f"{LIST}{getattr(user, 'pk', user)}/"


def errors(response: Any) -> list[tuple[str | None, str]]:
    return [(error["attr"], error["code"]) for error in response.json()["errors"]]


def member(clinic: Clinic, role: str = Role.CLINICIAN, **fields: Any) -> StaffMembership:
    return MembershipFactory.create(clinic=clinic, role=role, **fields)


def all_pages(api: Any, url: str, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    response = api.get(url, params)
    while True:
        assert response.status_code == 200, response.json()
        rows.extend(response.json()["results"])
        if not response.json()["next"]:
            return rows
        response = api.get(response.json()["next"])


# --- the NPI and the EHR's id on a membership ----------------------------------------------


@pytest.mark.parametrize(
    ("npi", "valid"),
    [
        ("1234567893", True),
        ("1245319599", True),
        ("1234567890", False),  # wrong check digit
        ("1245319598", False),
        ("123456789", False),
        ("12345678930", False),
        ("12345678a3", False),
        ("".join(chr(0xFF10 + int(digit)) for digit in "1234567893"), False),  # full-width digits
    ],
)
def test_the_npi_check_digit_is_the_luhn_digit_over_80840_and_the_first_nine_digits(npi: str, valid: bool) -> None:
    assert npi_check_digit_valid(npi) is valid


def test_a_bad_npi_is_refused_naming_npi_and_nothing_is_written(clinic_a: Clinic) -> None:
    membership = member(clinic_a)
    with pytest.raises(ValidationError) as refused:
        membership_identifiers_set(membership=membership, external_id="PRV-1", npi="1234567890")
    assert set(refused.value.message_dict) == {"npi"}
    membership.refresh_from_db()
    assert (membership.external_id, membership.npi) == (None, None)


def test_an_external_id_is_unique_per_clinic_but_the_same_id_may_be_used_by_another_clinic(
    clinic_a: Clinic, clinic_b: Clinic
) -> None:
    first = membership_identifiers_set(membership=member(clinic_a), external_id="PRV-1", npi=VALID_NPI)
    with pytest.raises(ValidationError) as refused:
        membership_identifiers_set(membership=member(clinic_a), external_id="PRV-1", npi=None)
    assert set(refused.value.message_dict) == {"external_id"}
    elsewhere = membership_identifiers_set(membership=member(clinic_b), external_id="PRV-1", npi=None)
    assert (first.external_id, elsewhere.external_id) == ("PRV-1", "PRV-1")


def test_a_blank_external_id_is_stored_as_null_so_unset_ids_never_collide(clinic_a: Clinic) -> None:
    one = membership_identifiers_set(membership=member(clinic_a), external_id="  ", npi="")
    two = membership_identifiers_set(membership=member(clinic_a), external_id="", npi=None)
    assert (one.external_id, one.npi, two.external_id) == (None, None, None)


def test_the_database_refuses_a_duplicate_an_empty_id_and_a_malformed_npi_written_around_the_service(
    clinic_a: Clinic,
) -> None:
    membership_identifiers_set(membership=member(clinic_a), external_id="PRV-1", npi=None)
    other = member(clinic_a)
    for change in ({"external_id": "PRV-1"}, {"external_id": ""}, {"npi": "12345"}):
        with pytest.raises(IntegrityError), transaction.atomic():
            StaffMembership.objects.filter(pk=other.pk).update(**change)


def test_the_change_history_keeps_the_external_id_and_npi(clinic_a: Clinic) -> None:
    membership = membership_identifiers_set(membership=member(clinic_a), external_id="PRV-7", npi=VALID_NPI)
    latest = membership.history.order_by("-pgh_id").first()  # type: ignore[attr-defined]
    assert (latest.external_id, latest.npi) == ("PRV-7", VALID_NPI)


# --- the directory -------------------------------------------------------------------------


def test_the_directory_lists_the_clinics_staff_with_their_ehr_ids_and_nothing_they_sign_in_with(
    clinic_a: Clinic, make_client: Any
) -> None:
    ehr = make_client(clinic_a, scopes=["staff:read"])
    membership = member(clinic_a, user=UserFactory.create(first_name="Maya", last_name="Lindqvist"))
    membership_identifiers_set(membership=membership, external_id="PRV-22", npi=VALID_NPI)
    response = ehr.api.get(detail(membership.user))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body == {
        "id": str(membership.user.pk),
        "first_name": "Maya",
        "last_name": "Lindqvist",
        "role": "clinician",
        "active": True,
        "external_id": "PRV-22",
        "npi": VALID_NPI,
        "updated_at": body["updated_at"],
    }
    listed = ehr.api.get(LIST).json()["results"]
    assert listed == [body]
    text = json.dumps(listed)
    assert membership.user.username not in text
    assert membership.user.email not in text


def test_another_clinics_staff_never_appear_and_their_id_is_404(
    clinic_a: Clinic, clinic_b: Clinic, make_client: Any
) -> None:
    ehr = make_client(clinic_a, scopes=["staff:read"])
    mine = member(clinic_a)
    theirs = member(clinic_b, external_id="PRV-1")
    # Someone who works for both clinics appears once, with this clinic's role.
    both = member(clinic_b, role=Role.ADMIN)
    member(clinic_a, role=Role.FRONT_DESK, user=both.user)
    ids = {row["id"]: row["role"] for row in all_pages(ehr.api, LIST)}
    assert ids == {str(mine.user_id): "clinician", str(both.user_id): "front_desk"}
    assert ehr.api.get(LIST, {"external_id": "PRV-1"}).json()["results"] == []
    assert ehr.api.get(detail(theirs.user)).status_code == 404
    assert ehr.api.get(detail(uuid.uuid4())).status_code == 404
    assert ehr.api.get(f"{LIST}not-a-uuid/").status_code == 404


@pytest.mark.parametrize(
    ("scopes", "status"),
    [(["staff:read"], 200), (["schedule:read", "schedule:write", "patients:read"], 403)],
)
def test_an_integration_client_needs_staff_read(
    clinic_a: Clinic, make_client: Any, scopes: list[str], status: int
) -> None:
    ehr = make_client(clinic_a, scopes=scopes)
    staff = member(clinic_a)
    assert ehr.api.get(LIST).status_code == status
    assert ehr.api.get(detail(staff.user)).status_code == status


@pytest.mark.parametrize("role", list(Role))
def test_every_role_reads_the_directory_front_desk_included_since_it_books(
    clinic_a: Clinic, make_staff: Any, role: Role
) -> None:
    assert make_staff(clinic_a, role).api.get(LIST).status_code == 200


def test_the_directory_is_read_only(clinic_a: Clinic, make_client: Any) -> None:
    ehr = make_client(clinic_a)
    staff = member(clinic_a)
    assert ehr.api.post(LIST, {"role": "admin"}).status_code == 405
    assert ehr.api.patch(detail(staff.user), {"role": "admin"}).status_code == 405
    assert ehr.api.delete(detail(staff.user)).status_code == 405


def test_the_directory_filters_by_role_active_and_external_id(clinic_a: Clinic, make_client: Any) -> None:
    ehr = make_client(clinic_a, scopes=["staff:read"])
    clinician = member(clinic_a, external_id="PRV-1")
    front_desk = member(clinic_a, role=Role.FRONT_DESK)
    ended = member(clinic_a, is_active=False)
    disabled = member(clinic_a, role=Role.CASE_MANAGER, user=UserFactory.create(is_active=False))

    def ids(**params: Any) -> set[str]:
        return {row["id"] for row in all_pages(ehr.api, LIST, **params)}

    assert ids(role="clinician") == {str(clinician.user_id), str(ended.user_id)}
    assert ids(role=["front_desk", "case_manager"]) == {str(front_desk.user_id), str(disabled.user_id)}
    assert ids(active="true") == {str(clinician.user_id), str(front_desk.user_id)}
    # An ended membership and a disabled account are both not active: neither can be booked.
    assert ids(active="false") == {str(ended.user_id), str(disabled.user_id)}
    assert ids(external_id="PRV-1") == {str(clinician.user_id)}
    assert ids(external_id="prv-1") == set()


@pytest.mark.parametrize(
    ("params", "attr"),
    [
        ({"role": "doctor"}, "role"),
        ({"active": "yes"}, "active"),
        ({"external_id": ""}, "external_id"),
        ({"updated_since": "2026-11-21T14:30:00"}, "updated_since"),
        ({"page_size": "0"}, "page_size"),
    ],
)
def test_a_bad_filter_is_400_naming_it(clinic_a: Clinic, make_client: Any, params: dict[str, str], attr: str) -> None:
    ehr = make_client(clinic_a, scopes=["staff:read"])
    member(clinic_a)
    response = ehr.api.get(LIST, params)
    assert response.status_code == 400, response.json()
    assert {error["attr"] for error in response.json()["errors"]} == {attr}


def test_updated_since_returns_the_memberships_changed_since(clinic_a: Clinic, make_client: Any) -> None:
    ehr = make_client(clinic_a, scopes=["staff:read"])
    old, changed = member(clinic_a), member(clinic_a)
    StaffMembership.objects.filter(pk__in=[old.pk, changed.pk]).update(
        updated_at=timezone.now() - datetime.timedelta(days=2)
    )
    since = timezone.now() - datetime.timedelta(days=1)
    membership_identifiers_set(membership=changed, external_id="PRV-9", npi=None)
    rows = all_pages(ehr.api, LIST, updated_since=since.isoformat())
    assert [row["id"] for row in rows] == [str(changed.user_id)]


def test_the_directory_pages_with_a_cursor_without_duplicates_or_gaps(clinic_a: Clinic, make_client: Any) -> None:
    ehr = make_client(clinic_a, scopes=["staff:read"])
    made = {str(member(clinic_a).user_id) for _ in range(7)}
    first = ehr.api.get(LIST, {"page_size": 3}).json()
    assert len(first["results"]) == 3
    assert "cursor=" in first["next"]
    for ordering in ("created_at", "-updated_at"):
        rows = all_pages(ehr.api, LIST, page_size=3, ordering=ordering)
        assert sorted(row["id"] for row in rows) == sorted(made)


def test_reading_the_directory_writes_an_access_event_naming_the_people_and_no_patient(
    clinic_a: Clinic, clinic_b: Clinic, make_client: Any
) -> None:
    ehr = make_client(clinic_a, scopes=["staff:read"])
    staff = member(clinic_a)
    before = set(AccessEvent.objects.values_list("id", flat=True))
    ehr.api.get(LIST)
    (listed,) = AccessEvent.objects.exclude(id__in=before)
    assert (listed.action, listed.object_type, listed.patient_ids) == ("list", "staff", [])
    assert listed.object_ids == [staff.user_id]
    theirs = member(clinic_b)
    before = set(AccessEvent.objects.values_list("id", flat=True))
    ehr.api.get(detail(theirs.user))
    (denied,) = AccessEvent.objects.exclude(id__in=before)
    assert (denied.action, denied.object_ids) == ("denied", [theirs.user_id])


def test_the_directory_reads_a_page_in_a_fixed_number_of_queries(
    clinic_a: Clinic, make_client: Any, django_assert_max_num_queries: Any
) -> None:
    ehr = make_client(clinic_a, scopes=["staff:read"])
    for _ in range(30):
        member(clinic_a)
    with django_assert_max_num_queries(12):
        assert len(ehr.api.get(LIST).json()["results"]) == 30


# --- booking by the EHR's provider id --------------------------------------------------------


@pytest.fixture
def booker(clinic_a: Clinic, make_client: Any) -> Persona:
    """An EHR interface that books: the directory and the schedule, nothing else. Patients are
    named by our ids, so it needs no `patients:read` once it has them (here, from the fixture)."""
    persona: Persona = make_client(clinic_a, scopes=["staff:read", "schedule:write"])
    return persona


def booking(patient: Any, start: datetime.datetime, **who: str) -> dict[str, Any]:
    return {
        "patient": str(patient.pk),
        "kind": "individual_therapy",
        "starts_at": start.isoformat(),
        "ends_at": (start + datetime.timedelta(minutes=50)).isoformat(),
        **who,
    }


TOMORROW = timezone.now().replace(microsecond=0) + datetime.timedelta(days=1)


def test_a_client_with_staff_read_and_schedule_write_books_knowing_only_the_ehrs_provider_id(
    booker: Persona, clinic_a: Clinic
) -> None:
    clinician = member(clinic_a, external_id="EPIC-PRV-4411")
    patient = PatientFactory.create(clinic=clinic_a)
    (found,) = booker.api.get(LIST, {"external_id": "EPIC-PRV-4411"}).json()["results"]
    assert found["id"] == str(clinician.user_id)
    response = booker.api.post(APPOINTMENTS, booking(patient, TOMORROW, clinician_external_id="EPIC-PRV-4411"))
    assert response.status_code == 201, response.json()
    assert response.json()["clinician"] == str(clinician.user_id)
    assert "clinician_external_id" not in response.json()
    assert Appointment.objects.get().clinician_id == clinician.user_id


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ({"clinician_external_id": "NOBODY"}, [("clinician_external_id", "does_not_exist")]),
        ({"clinician_external_id": "PRV-B"}, [("clinician_external_id", "does_not_exist")]),  # clinic B's
        ({"clinician_external_id": "PRV-DESK"}, [("clinician_external_id", "does_not_exist")]),  # not bookable
        ({"clinician_external_id": "PRV-ENDED"}, [("clinician_external_id", "does_not_exist")]),
        ({"clinician_external_id": 4411}, [("clinician_external_id", "incorrect_type")]),
        ({"clinician_external_id": "X" * 65}, [("clinician_external_id", "does_not_exist")]),
        ({}, [("clinician", "required")]),
    ],
)
def test_an_unknown_or_missing_clinician_is_400_naming_the_field_and_nothing_is_booked(
    booker: Persona, clinic_a: Clinic, clinic_b: Clinic, who: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    member(clinic_b, external_id="PRV-B")
    member(clinic_a, role=Role.FRONT_DESK, external_id="PRV-DESK")
    member(clinic_a, is_active=False, external_id="PRV-ENDED")
    response = booker.api.post(APPOINTMENTS, booking(PatientFactory.create(clinic=clinic_a), TOMORROW, **who))
    assert response.status_code == 400, response.json()
    assert errors(response) == expected
    assert not Appointment.objects.exists()


def test_an_external_id_with_a_nul_character_is_a_400_not_a_database_error(booker: Persona, clinic_a: Clinic) -> None:
    response = booker.api.post(
        APPOINTMENTS, booking(PatientFactory.create(clinic=clinic_a), TOMORROW, clinician_external_id="A\x00")
    )
    assert response.status_code == 400
    assert {error["attr"] for error in response.json()["errors"]} == {"clinician_external_id"}


def test_an_unknown_external_id_is_worded_as_an_unknown_clinician(booker: Persona, clinic_a: Clinic) -> None:
    patient = PatientFactory.create(clinic=clinic_a)
    by_id = booker.api.post(APPOINTMENTS, booking(patient, TOMORROW, clinician="X"))
    by_external = booker.api.post(APPOINTMENTS, booking(patient, TOMORROW, clinician_external_id="X"))
    assert by_id.json()["errors"][0]["detail"] == by_external.json()["errors"][0]["detail"]


def test_both_clinician_and_clinician_external_id_is_400_naming_clinician_external_id(
    booker: Persona, clinic_a: Clinic
) -> None:
    clinician = member(clinic_a, external_id="PRV-1")
    body = booking(
        PatientFactory.create(clinic=clinic_a),
        TOMORROW,
        clinician=str(clinician.user_id),
        clinician_external_id="PRV-1",
    )
    response = booker.api.post(APPOINTMENTS, body)
    assert response.status_code == 400
    assert errors(response) == [("clinician_external_id", "invalid")]
    assert not Appointment.objects.exists()


def test_an_appointment_moves_to_another_clinician_named_by_the_ehrs_id(
    booker: Persona, clinic_a: Clinic, clinic_b: Clinic
) -> None:
    first, second = member(clinic_a, external_id="PRV-1"), member(clinic_a, external_id="PRV-2")
    member(clinic_b, external_id="PRV-3")
    booked = booker.api.post(
        APPOINTMENTS, booking(PatientFactory.create(clinic=clinic_a), TOMORROW, clinician_external_id="PRV-1")
    ).json()
    url = f"{APPOINTMENTS}{booked['id']}/"
    refused = booker.api.patch(url, {"clinician_external_id": "PRV-3"})
    assert errors(refused) == [("clinician_external_id", "does_not_exist")]
    both = booker.api.patch(url, {"clinician_external_id": "PRV-2", "clinician": str(second.user_id)})
    assert errors(both) == [("clinician_external_id", "invalid")]
    assert Appointment.objects.get().clinician_id == first.user_id
    moved = booker.api.patch(url, {"clinician_external_id": "PRV-2"})
    assert moved.status_code == 200, moved.json()
    assert moved.json()["clinician"] == str(second.user_id)
    # A move that names no clinician keeps the one booked.
    later = TOMORROW + datetime.timedelta(hours=2)
    kept = booker.api.patch(
        url, {"starts_at": later.isoformat(), "ends_at": (later + datetime.timedelta(hours=1)).isoformat()}
    )
    assert kept.status_code == 200, kept.json()
    assert kept.json()["clinician"] == str(second.user_id)


def test_a_series_is_created_and_changed_by_the_ehrs_provider_id(booker: Persona, clinic_a: Clinic) -> None:
    first, second = member(clinic_a, external_id="PRV-1"), member(clinic_a, external_id="PRV-2")
    body = {
        "patient": str(PatientFactory.create(clinic=clinic_a).pk),
        "clinician_external_id": "PRV-1",
        "kind": "individual_therapy",
        "rrule": "FREQ=WEEKLY;COUNT=3",
        "starts_on": str(timezone.localdate() + datetime.timedelta(days=10)),
        "local_start_time": "10:00",
        "duration_minutes": 50,
    }
    assert errors(booker.api.post(SERIES, {**body, "clinician_external_id": "NOBODY"})) == [
        ("clinician_external_id", "does_not_exist")
    ]
    assert errors(booker.api.post(SERIES, {**body, "clinician": str(first.user_id)})) == [
        ("clinician_external_id", "invalid")
    ]
    created = booker.api.post(SERIES, body)
    assert created.status_code == 201, created.json()
    assert created.json()["clinician"] == str(first.user_id)
    changed = booker.api.patch(f"{SERIES}{created.json()['id']}/", {"clinician_external_id": "PRV-2"})
    assert changed.status_code == 200, changed.json()
    assert AppointmentSeries.objects.get().clinician_id == second.user_id
    assert set(Appointment.objects.values_list("clinician_id", flat=True)) == {second.user_id}


def test_the_caseload_takes_the_clinician_by_the_ehrs_provider_id(
    clinic_a: Clinic, clinic_b: Clinic, make_client: Any
) -> None:
    ehr = make_client(clinic_a, scopes=["flags:read", "patients:read", "schedule:read"])
    clinician = member(clinic_a, external_id="PRV-1")
    member(clinic_b, external_id="PRV-2")
    patient = PatientFactory.create(clinic=clinic_a, assigned_clinician=clinician.user)
    PatientFactory.create(clinic=clinic_a)
    by_id = ehr.api.get(CASELOAD, {"clinician": str(clinician.user_id)})
    by_external = ehr.api.get(CASELOAD, {"clinician_external_id": "PRV-1"})
    assert by_external.status_code == 200, by_external.json()
    assert by_external.json() == by_id.json()
    assert [row["patient"] for row in by_external.json()["results"]] == [str(patient.pk)]
    unknown = ehr.api.get(CASELOAD, {"clinician_external_id": "PRV-2"})
    assert errors(unknown) == [("clinician_external_id", "does_not_exist")]
    both = ehr.api.get(CASELOAD, {"clinician_external_id": "PRV-1", "clinician": str(clinician.user_id)})
    assert errors(both) == [("clinician_external_id", "invalid")]


# --- manage.py create_staff and create_clinic ------------------------------------------------


def run(command: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_staff_adds_a_bookable_member_and_prints_their_invitation_never_a_password(
    clinic_a: Clinic, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        out, err = run(
        "create_staff", "--clinic", clinic_a.slug, "--username", "mlindqvist", "--role", "clinician",
        "--first-name", "Maya", "--last-name", "Lindqvist", "--email", "maya@example.org",
        "--external-id", "EPIC-PRV-4411", "--npi", VALID_NPI,
        )  # fmt: skip
    printed = json.loads(out)
    user = User.objects.get(username="mlindqvist")
    assert not user.has_usable_password()
    membership = StaffMembership.objects.get(user=user, clinic=clinic_a)
    assert (membership.role, membership.external_id, membership.npi) == ("clinician", "EPIC-PRV-4411", VALID_NPI)
    assert printed["id"] == str(user.pk)
    assert printed["invite_link"].startswith(f"{settings.AFTERCARE_PUBLIC_URL}/invite/")
    uidb64, token = printed["invite_link"].rstrip("/").split("/")[-2:]
    assert invite_user(uidb64=uidb64, token=token) == user
    assert "password" not in out.lower().replace("choose a password", "")
    assert "invite_link" in err
    assert [message.to for message in mail.outbox] == [["maya@example.org"]]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--clinic", "nowhere", "--username", "u1", "--role", "clinician"], "--clinic"),
        (["--clinic", "clinic-a", "--username", "u1", "--role", "doctor"], "--role"),
        (["--clinic", "clinic-a", "--username", "taken", "--role", "clinician"], "--username"),
        (
            ["--clinic", "clinic-a", "--username", "u1", "--role", "clinician", "--external-id", "PRV-1"],
            "--external-id",
        ),
        (["--clinic", "clinic-a", "--username", "u1", "--role", "clinician", "--npi", "1234567890"], "--npi"),
        (["--clinic", "clinic-a", "--username", "u1", "--role", "clinician", "--email", "not-an-email"], "--email"),
    ],
)
def test_create_staff_refuses_naming_the_option_and_writes_nothing(
    clinic_a: Clinic, args: list[str], option: str
) -> None:
    member(clinic_a, external_id="PRV-1", user=UserFactory.create(username="taken"))
    users, memberships = User.objects.count(), StaffMembership.objects.count()
    with pytest.raises(CommandError, match=option):
        run("create_staff", *args)
    assert (User.objects.count(), StaffMembership.objects.count()) == (users, memberships)


def test_create_clinic_says_what_to_run_next_and_keeps_its_json(db: None) -> None:
    out, err = run("create_clinic", "--slug", "north", "--name", "North", "--time-zone", "America/Denver")
    assert json.loads(out)["slug"] == "north"
    assert "create_staff --clinic north" in err
    assert "--role admin" in err
    assert "create_api_client --clinic north" in err


# --- the admin -------------------------------------------------------------------------------


def test_the_admins_membership_page_sets_the_ehr_id_and_npi_and_refuses_a_bad_one_naming_it(
    clinic_a: Clinic,
) -> None:
    admin = UserFactory.create(is_staff=True)
    member(clinic_a, role=Role.ADMIN, user=admin)
    membership_identifiers_set(membership=member(clinic_a), external_id="PRV-1", npi=None)
    membership = member(clinic_a)
    url = f"/admin/clinic/staffmembership/{membership.pk}/change/"
    browser = signed_in(admin)
    assert 'name="external_id"' in browser.get(url).content.decode()

    bad_npi = browser.post(url, membership_form(membership, external_id="PRV-2", npi="1234567890"))
    assert set(form_errors(bad_npi)) == {"npi"}
    taken = browser.post(url, membership_form(membership, external_id="PRV-1", npi=VALID_NPI))
    assert bad_npi.status_code == taken.status_code == 200
    assert set(form_errors(taken)) == {"external_id"}
    membership.refresh_from_db()
    assert (membership.external_id, membership.npi) == (None, None)

    saved = browser.post(url, membership_form(membership, external_id="PRV-2", npi=VALID_NPI))
    assert saved.status_code == 302
    membership.refresh_from_db()
    assert (membership.external_id, membership.npi) == ("PRV-2", VALID_NPI)
    cleared = browser.post(url, membership_form(membership, external_id="", npi=""))
    assert cleared.status_code == 302
    membership.refresh_from_db()
    assert (membership.external_id, membership.npi) == (None, None)
