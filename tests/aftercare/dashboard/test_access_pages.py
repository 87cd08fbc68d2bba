"""Who viewed this patient, and the clinic's access log with its CSV export: for admins and
auditors only, staff and clients by name, opening a record told apart from appearing in a list."""

from __future__ import annotations

import csv
import datetime
import io
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from clinic.models import AccessAction, AccessEvent, Clinic, IntegrationClient, Patient, Role, User
from clinic.selectors import access as access_selectors
from tests.factories import ClinicFactory, MembershipFactory, PatientFactory, integration_client

StaffClient = Callable[..., tuple[Client, User]]
CHICAGO = zoneinfo.ZoneInfo("America/Chicago")


def _event(
    clinic: Clinic,
    *,
    user: User | None = None,
    client: IntegrationClient | None = None,
    action: str = AccessAction.VIEW,
    patients: list[Patient] | None = None,
    at: datetime.datetime | None = None,
    path: str = "/api/v1/patients/",
) -> AccessEvent:
    actor = f"client:{client.pk}" if client is not None else f"user:{user.pk if user else uuid.uuid4()}"
    return AccessEvent.objects.create(
        clinic=clinic,
        actor=actor,
        user=user if client is None else None,
        client=client,
        action=action,
        object_type="patients",
        object_ids=[p.pk for p in patients or []],
        patient_ids=[p.pk for p in patients or []],
        method="GET",
        path=path,
        status_code=200,
        ip="10.0.0.7",
        **({"at": at} if at is not None else {}),
    )


def _member(clinic: Clinic, role: str, first: str, last: str) -> User:
    return MembershipFactory.create(
        clinic=clinic, role=role, user__first_name=first, user__last_name=last, user__is_staff=False
    ).user


@pytest.fixture
def clinic(db: None) -> Clinic:
    return ClinicFactory.create(time_zone="America/Chicago")


@pytest.fixture
def patient(clinic: Clinic) -> Patient:
    return PatientFactory.create(clinic=clinic, given_name="Rosa", family_name="Delgado", external_id="MRN-4711")


# --- who viewed this patient ---------------------------------------------------------------------------


def test_the_auditor_sees_who_opened_the_record_and_who_saw_it_in_a_list_by_name(
    staff_client: StaffClient, clinic: Clinic, patient: Patient
) -> None:
    clinician = _member(clinic, Role.CLINICIAN, "Maya", "Okafor")
    manager = _member(clinic, Role.CASE_MANAGER, "Tom", "Reyes")
    ehr = integration_client(clinic, ["patients:read"], name="Riverbend EHR")
    _event(clinic, user=clinician, action=AccessAction.VIEW, patients=[patient], path=f"/patients/{patient.pk}/")
    _event(clinic, user=manager, action=AccessAction.LIST, patients=[patient, PatientFactory.create(clinic=clinic)])
    _event(clinic, client=ehr, action=AccessAction.UPDATE, patients=[patient])
    _event(clinic, user=clinician, action=AccessAction.VIEW, patients=[PatientFactory.create(clinic=clinic)])
    auditor_client, _ = staff_client(clinic, Role.AUDITOR)

    response = auditor_client.get(f"/patients/{patient.pk}/access/")

    assert response.status_code == 200
    rows = response.context["rows"]
    assert [(row.actor.name, row.actor.role, row.what) for row in rows] == [
        ("Riverbend EHR", "Integration client", "Changed the record"),
        ("Tom Reyes", "Case manager", "Appeared in a list"),
        ("Maya Okafor", "Clinician", "Opened the record"),
    ]
    page = response.content.decode()
    assert "Maya Okafor" in page
    assert "Opened the record" in page
    assert "Appeared in a list" in page
    assert str(clinician.pk) not in page
    assert str(ehr.pk) not in page
    assert "10.0.0.7" in page
    assert f"/patients/{patient.pk}/" in page


def test_reading_who_viewed_a_patient_is_itself_an_access_event_about_that_patient(
    staff_client: StaffClient, clinic: Clinic, patient: Patient
) -> None:
    auditor_client, auditor = staff_client(clinic, Role.AUDITOR)
    auditor_client.get(f"/patients/{patient.pk}/access/")
    event = AccessEvent.objects.get(actor=f"user:{auditor.pk}")
    assert event.action == AccessAction.VIEW
    assert event.object_type == "dashboard.patient_access"
    assert event.patient_ids == [patient.pk]
    # …and the next look shows it: the auditor by name, opening the record.
    again = auditor_client.get(f"/patients/{patient.pk}/access/")
    assert [row.actor.name for row in again.context["rows"]][:1] == [f"{auditor.first_name} {auditor.last_name}"]


def test_the_date_range_is_in_the_clinics_days_both_included(
    staff_client: StaffClient, clinic: Clinic, patient: Patient
) -> None:
    clinician = _member(clinic, Role.CLINICIAN, "Maya", "Okafor")
    # 23:30 in Chicago on 10 Nov is already 11 Nov in UTC; 00:30 on 12 Nov is still 11 Nov's evening… no: 06:30 UTC.
    late_on_the_10th = datetime.datetime(2026, 11, 10, 23, 30, tzinfo=CHICAGO)
    early_on_the_12th = datetime.datetime(2026, 11, 12, 0, 30, tzinfo=CHICAGO)
    on_the_9th = datetime.datetime(2026, 11, 9, 12, 0, tzinfo=CHICAGO)
    for moment in (late_on_the_10th, early_on_the_12th, on_the_9th):
        _event(clinic, user=clinician, patients=[patient], at=moment)
    auditor_client, _ = staff_client(clinic, Role.AUDITOR)

    response = auditor_client.get(f"/patients/{patient.pk}/access/?date_from=2026-11-10&date_to=2026-11-11")
    assert [row.event.at for row in response.context["rows"]] == [late_on_the_10th]
    assert "Tue 10 Nov 2026 23:30" in response.content.decode()  # shown in the clinic's time

    backwards = auditor_client.get(f"/patients/{patient.pk}/access/?date_from=2026-11-12&date_to=2026-11-10")
    assert "Must be on or after the From date." in backwards.content.decode()


def test_who_viewed_pages_through_older_events_without_losing_or_repeating_one(
    staff_client: StaffClient, clinic: Clinic, patient: Patient
) -> None:
    clinician = _member(clinic, Role.CLINICIAN, "Maya", "Okafor")
    start = datetime.datetime(2026, 11, 1, 9, 0, tzinfo=datetime.UTC)
    made = {_event(clinic, user=clinician, patients=[patient], at=start + datetime.timedelta(minutes=i)).pk
            for i in range(120)}  # fmt: skip
    auditor_client, _ = staff_client(clinic, Role.AUDITOR)
    seen: list[Any] = []
    url = f"/patients/{patient.pk}/access/"
    while url:
        response = auditor_client.get(url)
        seen += [row.event.pk for row in response.context["rows"]]
        older = response.context["older"]
        url = f"/patients/{patient.pk}/access/?{older}" if older else ""
    assert len(seen) == len(set(seen))
    assert made <= set(seen)


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.CASE_MANAGER, Role.FRONT_DESK])
def test_care_staff_and_front_desk_cannot_open_the_access_pages(
    staff_client: StaffClient, clinic: Clinic, patient: Patient, role: str
) -> None:
    member_client, member = staff_client(clinic, role)
    for url in (f"/patients/{patient.pk}/access/", "/access-log/", "/access-log/export.csv"):
        response = member_client.get(url)
        assert response.status_code == 403, url
        assert "Maya" not in response.content.decode()
    denied = AccessEvent.objects.filter(actor=f"user:{member.pk}", action=AccessAction.DENIED)
    assert denied.count() == 3
    assert denied.get(object_type="dashboard.patient_access").patient_ids == [patient.pk]


def test_an_admin_may_read_both_access_pages(staff_client: StaffClient, clinic: Clinic, patient: Patient) -> None:
    admin_client, _ = staff_client(clinic, Role.ADMIN)
    assert admin_client.get(f"/patients/{patient.pk}/access/").status_code == 200
    assert admin_client.get("/access-log/").status_code == 200


def test_another_clinics_patient_is_a_404_page_and_a_denied_event(staff_client: StaffClient, clinic: Clinic) -> None:
    elsewhere = PatientFactory.create(clinic=ClinicFactory.create())
    auditor_client, auditor = staff_client(clinic, Role.AUDITOR)
    response = auditor_client.get(f"/patients/{elsewhere.pk}/access/")
    assert response.status_code == 404
    assert elsewhere.given_name not in response.content.decode()
    event = AccessEvent.objects.get(actor=f"user:{auditor.pk}")
    assert (event.action, event.status_code, event.patient_ids) == (AccessAction.DENIED, 404, [elsewhere.pk])


def test_who_viewed_a_patient_is_answered_from_the_patient_index(clinic: Clinic, patient: Patient) -> None:
    """The GIN index on `patient_ids` finds one patient's events among many, whatever the log's size."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO clinic_accessevent (id, at, clinic_id, actor, action, object_type, object_ids, patient_ids,
                                            method, path, status_code, request_id)
            SELECT gen_random_uuid(), now() - make_interval(secs => n), %s, %s, 'view', 'patients', '{}',
                   ARRAY[gen_random_uuid()], 'GET', '/api/v1/patients/', 200, ''
            FROM generate_series(1, 30000) AS n
            """,
            [clinic.pk, f"user:{uuid.uuid4()}"],
        )
        cursor.execute("ANALYZE clinic_accessevent")
    events = access_selectors.access_event_list(clinic=clinic, patient_ids=[patient.pk])
    plan = events[:51].explain()
    # Each month's partition has its own copy of the index (`access_patients` on the parent).
    assert "_patient_ids_idx" in plan, plan
    assert "_clinic_id_at_idx" not in plan, plan


def test_the_who_viewed_page_costs_the_same_queries_for_10_or_500_events(
    staff_client: StaffClient, clinic: Clinic, patient: Patient
) -> None:
    auditor_client, _ = staff_client(clinic, Role.AUDITOR)
    staff = [_member(clinic, Role.CLINICIAN, f"Name{i}", "Staff") for i in range(5)]
    ehr = integration_client(clinic, ["patients:read"])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert auditor_client.get(f"/patients/{patient.pk}/access/").status_code == 200
        return len(captured)

    for i in range(10):
        _event(clinic, user=staff[i % 5], patients=[patient])
    few = queries()
    events = [
        AccessEvent(clinic=clinic, actor=f"user:{staff[i % 5].pk}", user=staff[i % 5], action="list",
                    object_type="patients", patient_ids=[patient.pk], method="GET", path="/x", status_code=200)
        for i in range(480)
    ] + [
        AccessEvent(clinic=clinic, actor=f"client:{ehr.pk}", client=ehr, action="view", object_type="patients",
                    patient_ids=[patient.pk], method="GET", path="/x", status_code=200)
        for _ in range(10)
    ]  # fmt: skip
    AccessEvent.objects.bulk_create(events)
    assert queries() == few + 1, few  # the client's name: one more query once a client appears, never per row
    assert few <= 9, few


# --- the clinic's access log ---------------------------------------------------------------------------


def test_the_access_log_filters_by_staff_member_action_and_patient_and_names_them(
    staff_client: StaffClient, clinic: Clinic, patient: Patient
) -> None:
    clinician = _member(clinic, Role.CLINICIAN, "Maya", "Okafor")
    manager = _member(clinic, Role.CASE_MANAGER, "Tom", "Reyes")
    other = PatientFactory.create(clinic=clinic, given_name="Ada", family_name="Brennan", external_id="MRN-0002")
    _event(clinic, user=clinician, action=AccessAction.VIEW, patients=[patient])
    _event(clinic, user=clinician, action=AccessAction.LIST, patients=[patient, other])
    _event(clinic, user=manager, action=AccessAction.VIEW, patients=[other])
    auditor_client, _ = staff_client(clinic, Role.AUDITOR)

    everything = auditor_client.get("/access-log/")
    page = everything.content.decode()
    assert "Maya Okafor" in page
    assert "Tom Reyes" in page
    assert str(clinician.pk) not in page.replace(f'value="user:{clinician.pk}"', "")  # ids only as the select's values
    assert f'<option value="user:{clinician.pk}">Maya Okafor</option>' in page  # the select is by name
    assert "Rosa Delgado" in page
    assert "Ada Brennan" in page

    def shown(query: str) -> list[tuple[str, str]]:
        response = auditor_client.get(f"/access-log/?{query}")
        assert response.status_code == 200, response.context["form"].errors
        # The auditor's own looks at the log are in it too: left out here.
        return [(row.actor.name, row.what) for row in response.context["rows"] if row.actor.role != "Auditor"]

    assert shown(f"who=user:{clinician.pk}") == [("Maya Okafor", "Listed records"), ("Maya Okafor", "Opened a record")]
    assert shown("action=view") == [("Tom Reyes", "Opened a record"), ("Maya Okafor", "Opened a record")]
    assert shown("patient=MRN-4711") == [("Maya Okafor", "Listed records"), ("Maya Okafor", "Opened a record")]
    assert shown("patient=ada") == [("Tom Reyes", "Opened a record"), ("Maya Okafor", "Listed records")]
    assert shown(f"patient_id={other.pk}&action=list") == [("Maya Okafor", "Listed records")]
    assert shown(f"patient_id={other.pk}&patient=MRN-4711&action=view") == [("Maya Okafor", "Opened a record")]
    nobody = auditor_client.get("/access-log/?patient=Zzyzx")
    assert "No patient of this clinic has this MRN or name." in nobody.content.decode()
    assert nobody.context["rows"] == []


def test_the_access_log_page_logs_the_patients_it_names(
    staff_client: StaffClient, clinic: Clinic, patient: Patient
) -> None:
    clinician = _member(clinic, Role.CLINICIAN, "Maya", "Okafor")
    _event(clinic, user=clinician, patients=[patient])
    auditor_client, auditor = staff_client(clinic, Role.AUDITOR)
    auditor_client.get("/access-log/")
    event = AccessEvent.objects.get(actor=f"user:{auditor.pk}")
    assert (event.action, event.object_type, event.patient_ids) == (
        AccessAction.LIST,
        "dashboard.access_log",
        [patient.pk],
    )


def test_a_bad_filter_is_an_error_next_to_the_field_never_a_500(staff_client: StaffClient, clinic: Clinic) -> None:
    auditor_client, _ = staff_client(clinic, Role.AUDITOR)
    response = auditor_client.get("/access-log/?who=user:nobody&action=peek&date_from=yesterday")
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"who", "action", "date_from"}
    export = auditor_client.get("/access-log/export.csv?action=peek")
    assert export["Content-Type"].startswith("text/html")  # the page with its errors, never a file
    assert not AccessEvent.objects.filter(action=AccessAction.EXPORT).exists()


def test_the_access_log_costs_the_same_queries_for_10_or_500_events(staff_client: StaffClient, clinic: Clinic) -> None:
    auditor_client, _ = staff_client(clinic, Role.AUDITOR)
    staff = [_member(clinic, Role.CLINICIAN, f"Name{i}", "Staff") for i in range(5)]
    patients = PatientFactory.create_batch(4, clinic=clinic)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert auditor_client.get("/access-log/").status_code == 200
        return len(captured)

    for i in range(10):
        _event(clinic, user=staff[i % 5], patients=patients[: 1 + i % 4])
    few = queries()
    AccessEvent.objects.bulk_create(
        [
            AccessEvent(clinic=clinic, actor=f"user:{staff[i % 5].pk}", user=staff[i % 5], action="list",
                        object_type="patients", patient_ids=[p.pk for p in patients], method="GET", path="/x",
                        status_code=200)
            for i in range(490)
        ]
    )  # fmt: skip
    assert queries() == few
    assert few <= 11, few


# --- the CSV export ------------------------------------------------------------------------------------


def _csv(response: Any) -> list[dict[str, str]]:
    """The export's rows, once its trailer says it is complete."""
    body = b"".join(response.streaming_content)
    rows = access_selectors.access_export_verify(io.BytesIO(body))
    found = list(csv.DictReader(io.StringIO(body.decode().rsplit("# rows=", 1)[0])))
    assert len(found) == rows
    return found


def test_the_export_streams_every_matching_event_with_names_and_is_itself_logged(
    staff_client: StaffClient, clinic: Clinic, patient: Patient
) -> None:
    clinician = _member(clinic, Role.CLINICIAN, "Maya", "Okafor")
    manager = _member(clinic, Role.CASE_MANAGER, "Tom", "Reyes")
    start = datetime.datetime(2026, 11, 1, 9, 0, tzinfo=datetime.UTC)
    for i in range(130):  # more than a page
        _event(clinic, user=clinician, patients=[patient], at=start + datetime.timedelta(minutes=i))
    _event(clinic, user=manager, patients=[patient])
    _event(ClinicFactory.create(), user=clinician, patients=[patient])  # another clinic's log
    auditor_client, auditor = staff_client(clinic, Role.AUDITOR)

    response = auditor_client.get(f"/access-log/export.csv?who=user:{clinician.pk}")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="access-log-')
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    header = body.decode().splitlines()[0]
    assert header == (
        "id,at,actor,action,object_type,object_ids,patient_ids,method,path,status_code,ip,request_id,"
        "actor_name,actor_role"
    )
    assert access_selectors.access_export_verify(io.BytesIO(body)) == 130
    assert body.decode().splitlines()[-1].startswith("# rows=130 sha256=")
    rows = list(csv.DictReader(io.StringIO(body.decode().rsplit("# rows=", 1)[0])))
    assert len(rows) == 130
    assert {(row["actor_name"], row["actor_role"], row["action"]) for row in rows} == {
        ("Maya Okafor", "Clinician", "view")
    }
    assert rows[0]["at"] == start.isoformat()  # oldest first
    assert rows[0]["patient_ids"] == str(patient.pk)
    export = AccessEvent.objects.get(actor=f"user:{auditor.pk}")
    assert (export.action, export.object_type) == (AccessAction.EXPORT, "dashboard.access_log")


def test_an_export_for_one_patient_names_that_patient_in_its_own_event(
    staff_client: StaffClient, clinic: Clinic, patient: Patient
) -> None:
    _event(clinic, user=_member(clinic, Role.CLINICIAN, "Maya", "Okafor"), patients=[patient])
    auditor_client, auditor = staff_client(clinic, Role.AUDITOR)
    rows = _csv(auditor_client.get(f"/access-log/export.csv?patient_id={patient.pk}"))
    assert len(rows) == 1
    assert AccessEvent.objects.get(actor=f"user:{auditor.pk}").patient_ids == [patient.pk]


def test_an_export_that_fails_part_way_fails_loudly_instead_of_ending_early(
    staff_client: StaffClient, clinic: Clinic, patient: Patient, monkeypatch: pytest.MonkeyPatch
) -> None:
    clinician = _member(clinic, Role.CLINICIAN, "Maya", "Okafor")
    for _ in range(5):
        _event(clinic, user=clinician, patients=[patient])
    monkeypatch.setattr(access_selectors, "CSV_CHUNK", 2)
    real = access_selectors._actors
    calls: list[int] = []

    def failing_on_the_second_chunk(**kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise ConnectionError("the database went away")
        return real(**kwargs)

    monkeypatch.setattr(access_selectors, "_actors", failing_on_the_second_chunk)
    auditor_client, _ = staff_client(clinic, Role.AUDITOR)
    response = auditor_client.get("/access-log/export.csv")
    lines: list[bytes] = []

    def read_all() -> None:
        lines.extend(response.streaming_content)  # type: ignore[attr-defined]

    with pytest.raises(ConnectionError):
        read_all()
    # The header and the first chunk: the download breaks, it does not end cleanly, and what did
    # arrive has no trailer, so it cannot pass for a complete file.
    assert len(lines) == 2
    with pytest.raises(access_selectors.ExportIncomplete):
        access_selectors.access_export_verify(io.BytesIO(b"".join(lines)))


def test_the_api_export_uses_the_same_writer_without_names(
    clinic: Clinic, patient: Patient, make_client: Callable[..., Any]
) -> None:
    ehr = make_client(clinic, scopes=["audit:read"])
    _event(clinic, user=_member(clinic, Role.CLINICIAN, "Maya", "Okafor"), patients=[patient])
    response = ehr.api.get("/api/v1/access-events/export/")
    body = b"".join(response.streaming_content)
    assert body.decode().splitlines()[0] == ",".join(access_selectors.CSV_COLUMNS)
    assert "Maya" not in body.decode()
    assert access_selectors.access_export_verify(io.BytesIO(body)) == 2  # the event, and the export's own
