"""Booking, moving and attendance: the rules, and the history a correction leaves."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from aftercare.models import Appointment, AttendanceRecord, AttendanceStatus
from clinic.models import Clinic, Role
from tests.aftercare.factories import AppointmentFactory, PlanFactory
from tests.clinic.test_idempotency_and_upsert import _race
from tests.conftest import Persona
from tests.factories import MembershipFactory, PatientFactory, access_token, integration_client

LIST = "/api/v1/appointments/"


def attrs(response: Any) -> set[str | None]:
    return {error["attr"] for error in response.json()["errors"]}


@pytest.fixture
def clinician(ehr_a: Persona, make_staff: Any) -> Any:
    return make_staff(ehr_a.clinic, Role.CLINICIAN).user


def booking(patient: Any, clinician: Any, start: datetime.datetime, minutes: int = 50, **extra: Any) -> dict[str, Any]:
    return {
        "patient": str(patient.pk),
        "clinician": str(clinician.pk),
        "kind": "individual_therapy",
        "starts_at": start.isoformat(),
        "ends_at": (start + datetime.timedelta(minutes=minutes)).isoformat(),
        **extra,
    }


TOMORROW = timezone.now().replace(microsecond=0) + datetime.timedelta(days=1)


def test_booking_then_moving_an_appointment(ehr_a: Persona, clinician: Any) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    created = ehr_a.api.post(LIST, booking(patient, clinician, TOMORROW, location="Room 4"))
    assert created.status_code == 201, created.json()
    later = TOMORROW + datetime.timedelta(hours=3)
    moved = ehr_a.api.patch(
        f"{LIST}{created.json()['id']}/",
        {"starts_at": later.isoformat(), "ends_at": (later + datetime.timedelta(minutes=50)).isoformat()},
    )
    assert moved.status_code == 200, moved.json()
    assert Appointment.objects.get().starts_at == later


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ends_at": (TOMORROW - datetime.timedelta(minutes=5)).isoformat()}, "ends_at"),
        ({"ends_at": (TOMORROW + datetime.timedelta(hours=13)).isoformat()}, "ends_at"),
        ({"starts_at": "tomorrow"}, "starts_at"),
        ({"kind": "hypnosis"}, "kind"),
        ({"telehealth_url": "not a url"}, "telehealth_url"),
        # Reminder emails show the place and the link to the patient (and whoever reads their mail).
        ({"location": "Methadone dispensary, room 2"}, "location"),
        ({"telehealth_url": "https://video.example.org/detox-group"}, "telehealth_url"),
    ],
)
def test_a_bad_booking_is_400_naming_the_field(
    ehr_a: Persona, clinician: Any, change: dict[str, Any], field: str
) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    response = ehr_a.api.post(LIST, {**booking(patient, clinician, TOMORROW), **change})
    assert response.status_code == 400
    assert attrs(response) == {field}
    assert not Appointment.objects.exists()


def test_another_clinics_patient_clinician_or_activity_in_a_body_is_400_naming_it(
    ehr_a: Persona, ehr_b: Persona, clinician: Any
) -> None:
    mine = PatientFactory.create(clinic=ehr_a.clinic)
    theirs = PatientFactory.create(clinic=ehr_b.clinic)
    their_clinician = MembershipFactory.create(clinic=ehr_b.clinic, role=Role.CLINICIAN).user
    their_activity = PlanFactory.create(patient=theirs).activities.create(kind="individual_therapy")
    for body, field in (
        (booking(theirs, clinician, TOMORROW), "patient"),
        (booking(mine, their_clinician, TOMORROW), "clinician"),
        (booking(mine, clinician, TOMORROW, activity=str(their_activity.pk)), "activity"),
    ):
        response = ehr_a.api.post(LIST, body)
        assert response.status_code == 400
        assert attrs(response) == {field}
        assert "does not exist" in response.json()["errors"][0]["detail"]
    assert not Appointment.objects.exists()


def test_an_activity_of_another_patients_plan_is_refused(ehr_a: Persona, clinician: Any) -> None:
    mine, other = PatientFactory.create_batch(2, clinic=ehr_a.clinic)
    activity = PlanFactory.create(patient=other).activities.create(kind="individual_therapy")
    response = ehr_a.api.post(LIST, booking(mine, clinician, TOMORROW, activity=str(activity.pk)))
    assert response.status_code == 400
    assert attrs(response) == {"activity"}


def test_a_clinician_cannot_be_double_booked(ehr_a: Persona, clinician: Any) -> None:
    first, second = PatientFactory.create_batch(2, clinic=ehr_a.clinic)
    assert ehr_a.api.post(LIST, booking(first, clinician, TOMORROW)).status_code == 201
    overlapping = ehr_a.api.post(LIST, booking(second, clinician, TOMORROW + datetime.timedelta(minutes=30)))
    assert overlapping.status_code == 400
    assert attrs(overlapping) == {"starts_at"}
    back_to_back = ehr_a.api.post(LIST, booking(second, clinician, TOMORROW + datetime.timedelta(minutes=50)))
    assert back_to_back.status_code == 201


def test_a_cancelled_appointment_frees_the_slot(ehr_a: Persona, clinician: Any) -> None:
    first, second = PatientFactory.create_batch(2, clinic=ehr_a.clinic)
    booked = ehr_a.api.post(LIST, booking(first, clinician, TOMORROW)).json()
    assert ehr_a.api.post(f"{LIST}{booked['id']}/attendance/", {"status": "cancelled"}).status_code == 200
    assert ehr_a.api.post(LIST, booking(second, clinician, TOMORROW)).status_code == 201


def test_the_database_itself_refuses_a_double_booking(db: None) -> None:
    from django.db import IntegrityError, transaction

    existing = AppointmentFactory.create()
    with pytest.raises(IntegrityError, match="appointment_clinician_overlap"), transaction.atomic():
        Appointment.objects.create(
            clinic=existing.clinic,
            patient=existing.patient,
            clinician=existing.clinician,
            kind="psychiatry",
            starts_at=existing.starts_at + datetime.timedelta(minutes=10),
            ends_at=existing.ends_at,
        )


@pytest.mark.django_db(transaction=True)
def test_two_bookings_racing_for_one_slot_leave_one() -> None:
    clinic = Clinic.objects.create(slug="race", name="Race", time_zone="UTC")
    clinician = MembershipFactory.create(clinic=clinic, role=Role.CLINICIAN).user
    patients = PatientFactory.create_batch(4, clinic=clinic)
    token = access_token(integration_client(clinic, ["schedule:write"]))

    def book(patient: Any) -> Any:
        def call() -> Any:
            api = APIClient()
            api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            return api.post(LIST, booking(patient, clinician, TOMORROW))

        return call

    responses = _race([book(p) for p in patients])
    assert sorted(r.status_code for r in responses) == [201, 400, 400, 400]
    assert Appointment.objects.count() == 1
    connection.close()


# --- attendance ------------------------------------------------------------------------------


def attendance(persona: Persona, appointment: Any, status: str, **extra: Any) -> Any:
    return persona.api.post(f"{LIST}{appointment.pk}/attendance/", {"status": status, **extra})


def test_attendance_cannot_be_recorded_before_the_appointment_starts(ehr_a: Persona) -> None:
    future = AppointmentFactory.create(
        clinic=ehr_a.clinic,
        patient=PatientFactory.create(clinic=ehr_a.clinic),
        starts_at=TOMORROW,
        ends_at=TOMORROW + datetime.timedelta(hours=1),
    )
    for status in ("attended", "missed", "late", "excused"):
        response = attendance(ehr_a, future, status)
        assert response.status_code == 400
        assert attrs(response) == {"status"}
    assert attendance(ehr_a, future, "cancelled").status_code == 200
    assert not AttendanceRecord.objects.exclude(status="cancelled").exists()


def test_a_correction_needs_a_reason_and_is_kept_in_the_history(ehr_a: Persona) -> None:
    past = AppointmentFactory.create(clinic=ehr_a.clinic, patient=PatientFactory.create(clinic=ehr_a.clinic))
    assert attendance(ehr_a, past, "missed").status_code == 200
    no_reason = attendance(ehr_a, past, "attended")
    assert no_reason.status_code == 400
    assert attrs(no_reason) == {"reason"}
    corrected = attendance(ehr_a, past, "attended", reason="Signed in late at the front desk")
    assert corrected.status_code == 200
    history = ehr_a.api.get(f"{LIST}{past.pk}/attendance/").json()["results"]
    assert [(h["previous_status"], h["status"], h["reason"]) for h in history] == [
        ("scheduled", "missed", ""),
        ("missed", "attended", "Signed in late at the front desk"),
    ]


def test_front_desk_records_attendance_but_cannot_correct_it(ehr_a: Persona, make_staff: Any) -> None:
    front_desk = make_staff(ehr_a.clinic, Role.FRONT_DESK)
    past = AppointmentFactory.create(clinic=ehr_a.clinic, patient=PatientFactory.create(clinic=ehr_a.clinic))
    assert attendance(front_desk, past, "attended").status_code == 200
    # Past the undo window, a change is a correction.
    Appointment.objects.filter(pk=past.pk).update(attendance_recorded_at=timezone.now() - datetime.timedelta(hours=1))
    assert attendance(front_desk, past, "missed", reason="Mistake").status_code == 403
    assert Appointment.objects.get(pk=past.pk).attendance_status == AttendanceStatus.ATTENDED


def test_the_history_cannot_be_rewritten_even_in_sql(db: None) -> None:
    from django.db import ProgrammingError, transaction

    past = AppointmentFactory.create()
    record = AttendanceRecord.objects.create(
        appointment=past, status="missed", previous_status="scheduled", recorded_at=timezone.now()
    )
    with pytest.raises(ProgrammingError), transaction.atomic():
        AttendanceRecord.objects.filter(pk=record.pk).update(status="attended")
    with pytest.raises(ProgrammingError), transaction.atomic():
        AttendanceRecord.objects.filter(pk=record.pk).delete()


def test_a_late_cancellation_is_only_late_within_a_day(ehr_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    far = timezone.now() + datetime.timedelta(days=3)
    appointment = AppointmentFactory.create(
        clinic=ehr_a.clinic, patient=patient, starts_at=far, ends_at=far + datetime.timedelta(hours=1)
    )
    response = attendance(ehr_a, appointment, "late_cancelled")
    assert response.status_code == 400
    assert attrs(response) == {"status"}


def test_recording_the_same_status_twice_is_a_409_conflict(ehr_a: Persona) -> None:
    past = AppointmentFactory.create(clinic=ehr_a.clinic, patient=PatientFactory.create(clinic=ehr_a.clinic))
    assert attendance(ehr_a, past, "attended").status_code == 200
    again = attendance(ehr_a, past, "attended")
    assert again.status_code == 409
    assert AttendanceRecord.objects.count() == 1


def test_a_recorded_appointment_cannot_be_moved(ehr_a: Persona) -> None:
    past = AppointmentFactory.create(clinic=ehr_a.clinic, patient=PatientFactory.create(clinic=ehr_a.clinic))
    attendance(ehr_a, past, "attended")
    response = ehr_a.api.patch(f"{LIST}{past.pk}/", {"location": "Room 9"})
    assert response.status_code == 409
    assert attrs(response) == {"attendance_status"}
    assert response.json()["errors"][0]["detail"] == "This appointment is marked attended: it cannot be changed."


@pytest.mark.parametrize(
    ("scopes", "method", "status"),
    [
        (["schedule:read"], "book", 403),
        (["schedule:write"], "attend", 403),
        (["attendance:write"], "attend", 200),
        (["patients:read", "patients:write"], "list", 403),
        (["schedule:read"], "list", 200),
    ],
)
def test_each_appointment_operation_needs_its_scope(
    ehr_a: Persona, make_client: Any, clinician: Any, scopes: list[str], method: str, status: int
) -> None:
    caller = make_client(ehr_a.clinic, scopes)
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    past = AppointmentFactory.create(clinic=ehr_a.clinic, patient=patient)
    if method == "book":
        response = caller.api.post(LIST, booking(patient, clinician, TOMORROW))
    elif method == "attend":
        response = attendance(caller, past, "attended")
    else:
        response = caller.api.get(LIST)
    assert response.status_code == status


def test_filters_narrow_the_appointment_list(ehr_a: Persona) -> None:
    patient = PatientFactory.create(clinic=ehr_a.clinic)
    early = AppointmentFactory.create(
        clinic=ehr_a.clinic, patient=patient, starts_at=timezone.now() - datetime.timedelta(days=10)
    )
    # Its time set here: the factory's default moves back an hour with every appointment the session
    # has made, and would fall before the cutoff once the suite has made a few dozen.
    late = AppointmentFactory.create(
        clinic=ehr_a.clinic,
        patient=patient,
        attendance_status="missed",
        starts_at=timezone.now() - datetime.timedelta(days=2),
    )
    ids = lambda params: {row["id"] for row in ehr_a.api.get(LIST, params).json()["results"]}  # noqa: E731
    assert ids({"attendance_status": "missed"}) == {str(late.pk)}
    cutoff = (timezone.now() - datetime.timedelta(days=5)).isoformat()
    assert ids({"starts_before": cutoff}) == {str(early.pk)}
    assert ids({"starts_after": cutoff}) == {str(late.pk)}
    assert ids({"patient": str(patient.pk), "clinician": str(early.clinician_id)}) == {str(early.pk)}
