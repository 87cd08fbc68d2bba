"""My caseload: most at risk first with the reason in words, who is on it (discharged patients still
watched), search and risk filter, switching caseloads, roles, other clinics, the access log, and
a query count that does not grow with the caseload."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aftercare.models import AttendanceStatus, GroupMembership, RiskFlag, RiskRule, RiskRuleSetting, Severity
from aftercare.risk.engine import evaluate
from clinic.models import AccessEvent, Clinic, Patient, PatientStatus, Role, User
from tests.aftercare.factories import AppointmentFactory, GroupSessionFactory, SupportGroupFactory
from tests.factories import ClinicFactory, MembershipFactory, PatientFactory

URL = "/caseload/"
NOW = timezone.now().replace(microsecond=0)
A = AttendanceStatus
StaffClient = Callable[..., tuple[Client, User]]


@pytest.fixture
def clinic(db: None) -> Clinic:
    return ClinicFactory.create(time_zone="America/Chicago")


def today(clinic: Clinic) -> datetime.date:
    return NOW.astimezone(clinic.zone).date()


def patient_of(clinic: Clinic, clinician: User | None, **fields: Any) -> Patient:
    fields.setdefault("intake_date", today(clinic) - datetime.timedelta(days=60))
    return PatientFactory.create(clinic=clinic, assigned_clinician=clinician, **fields)


def attended(patient: Patient, days_ago: float) -> None:
    AppointmentFactory.create(
        patient=patient, clinic=patient.clinic, starts_at=NOW - datetime.timedelta(days=days_ago),
        attendance_status=A.ATTENDED,
    )  # fmt: skip


def flag(
    patient: Patient, severity: str, evidence: list[dict[str, Any]], rule: str = RiskRule.CONSECUTIVE_MISSED
) -> RiskFlag:
    return RiskFlag.objects.create(
        clinic=patient.clinic, patient=patient, rule=rule, severity=severity, evidence=evidence,
        raised_at=NOW, evidence_updated_at=NOW,
    )  # fmt: skip


def missed(at: str) -> dict[str, Any]:
    return {"type": "appointment", "id": str(uuid.uuid4()), "starts_at": at, "status": "missed"}


def shown(response: Any) -> list[uuid.UUID]:
    return [row.patient.pk for row in response.context["rows"]]


def test_a_clinician_sees_their_patients_most_at_risk_first_with_the_reason_in_words(
    clinic: Clinic, staff_client: StaffClient
) -> None:
    client, me = staff_client(clinic, Role.CLINICIAN)
    # Names of their own: generated surnames can repeat, or one hold another ("Hill", "Churchill").
    calm = patient_of(clinic, me, family_name="Quillfeather")
    attended(calm, 2)
    # 02:30 UTC on the 25th is still Tuesday the 24th in Chicago.
    high = patient_of(clinic, me, family_name="Ravensworth")
    flag(high, Severity.HIGH, [missed("2026-11-25T02:30:00+00:00"), missed("2026-11-30T18:00:00+00:00"),
                               missed("2026-12-01T18:00:00+00:00")])  # fmt: skip
    medium = patient_of(clinic, me, family_name="Marchbanks")
    flag(medium, Severity.MEDIUM, [missed("2026-11-20T18:00:00+00:00"), missed("2026-11-27T18:00:00+00:00")])
    someone_elses = patient_of(clinic, MembershipFactory.create(clinic=clinic).user, family_name="Othergate")
    flag(someone_elses, Severity.HIGH, [missed("2026-11-20T18:00:00+00:00")])

    response = client.get(URL)

    assert response.status_code == 200
    assert shown(response) == [high.pk, medium.pk, calm.pk]
    body = response.content.decode()
    assert "<h1>My caseload</h1>" in body
    assert "Missed 3 in a row: Tue 24 Nov, Mon 30 Nov, Tue 1 Dec" in body
    assert "Missed 2 in a row: Fri 20 Nov, Fri 27 Nov" in body
    assert '<span class="chip high">High</span>' in body
    assert '<span class="chip none">None</span>' in body
    # Read in the table only: a generated surname may also be a staff member's in the header or filters.
    rows = body.split("<tbody>", 1)[1]
    assert rows.index(high.family_name) < rows.index(medium.family_name) < rows.index(calm.family_name)
    assert someone_elses.family_name not in body
    assert "1 of 1 attended (100%)" in body
    for patient in (high, medium, calm):
        assert str(patient.external_id) in body
        assert patient.phone in body


def test_last_attended_and_next_session_are_local_times_and_count_groups(
    clinic: Clinic, staff_client: StaffClient
) -> None:
    client, me = staff_client(clinic, Role.CLINICIAN)
    patient = patient_of(clinic, me)
    last = datetime.datetime(2026, 11, 25, 2, 30, tzinfo=datetime.UTC)  # Tue 24 Nov 20:30 in Chicago
    AppointmentFactory.create(patient=patient, clinic=clinic, starts_at=last, attendance_status=A.ATTENDED)
    group = SupportGroupFactory.create(clinic=clinic)
    GroupMembership.objects.create(group=group, patient=patient, joined_on=today(clinic) - datetime.timedelta(days=5))
    soon = (NOW + datetime.timedelta(days=2)).replace(second=0)
    GroupSessionFactory.create(group=group, starts_at=soon)
    AppointmentFactory.create(patient=patient, clinic=clinic, starts_at=NOW + datetime.timedelta(days=9))

    body = client.get(URL).content.decode()

    assert "Tue 24 Nov 2026 20:30" in body
    local = timezone.localtime(soon, clinic.zone)
    assert f'{local:%a} {local.day} {local:%b %Y %H:%M} <span class="muted">(group)</span>' in body


def test_discharged_patients_stay_while_the_rule_watches_them(clinic: Clinic, staff_client: StaffClient) -> None:
    client, me = staff_client(clinic, Role.CLINICIAN)
    day = today(clinic)
    intake = day - datetime.timedelta(days=400)
    recent = patient_of(clinic, me, status=PatientStatus.DISCHARGED, intake_date=intake,
                        discharge_date=day - datetime.timedelta(days=20))  # fmt: skip
    long_ago = patient_of(clinic, me, status=PatientStatus.DISCHARGED, intake_date=intake,
                          discharge_date=day - datetime.timedelta(days=200))  # fmt: skip
    flagged_long_ago = patient_of(clinic, me, status=PatientStatus.DISCHARGED, intake_date=intake,
                                  discharge_date=day - datetime.timedelta(days=300))  # fmt: skip
    flag(flagged_long_ago, Severity.MEDIUM, [], rule=RiskRule.POST_DISCHARGE_GAP)
    archived = patient_of(clinic, me, status=PatientStatus.ARCHIVED)

    response = client.get(URL)
    assert set(shown(response)) == {recent.pk, flagged_long_ago.pk}
    assert long_ago.pk not in shown(response)
    assert archived.pk not in shown(response)
    discharged = day - datetime.timedelta(days=20)
    assert f"Discharged {discharged.day} {discharged:%b %Y}" in response.content.decode()

    # The window is the clinic's own threshold, as the engine reads it...
    short = {"initiation_days": 5, "engagement_days": 10, "engagement_sessions": 2}
    RiskRuleSetting.objects.create(
        clinic=clinic, rule=RiskRule.POST_DISCHARGE_GAP, thresholds={**short, "watch_days": 19}
    )
    assert set(shown(client.get(URL))) == {flagged_long_ago.pk}
    RiskRuleSetting.objects.filter(clinic=clinic).update(thresholds={**short, "watch_days": 20})
    assert set(shown(client.get(URL))) == {recent.pk, flagged_long_ago.pk}
    # ...and a rule switched off watches nobody.
    RiskRuleSetting.objects.filter(clinic=clinic).update(enabled=False)
    assert set(shown(client.get(URL))) == {flagged_long_ago.pk}


def test_the_window_is_the_one_the_engine_uses(clinic: Clinic, staff_client: StaffClient) -> None:
    """A patient the engine still flags for the post-discharge gap is on the caseload, and one
    the engine no longer watches is not (both without an open flag first)."""
    client, me = staff_client(clinic, Role.CLINICIAN)
    watch_days = 90
    day = today(clinic)
    intake = day - datetime.timedelta(days=400)
    last_day = patient_of(clinic, me, status=PatientStatus.DISCHARGED, intake_date=intake,
                          discharge_date=day - datetime.timedelta(days=watch_days))  # fmt: skip
    day_after = patient_of(clinic, me, status=PatientStatus.DISCHARGED, intake_date=intake,
                           discharge_date=day - datetime.timedelta(days=watch_days + 1))  # fmt: skip
    assert set(shown(client.get(URL))) == {last_day.pk}
    evaluate(patient_ids=[last_day.pk, day_after.pk], now=NOW)
    flagged = set(RiskFlag.objects.filter(rule=RiskRule.POST_DISCHARGE_GAP).values_list("patient_id", flat=True))
    assert flagged == {last_day.pk}


def test_search_by_name_or_mrn_and_filter_by_risk(clinic: Clinic, staff_client: StaffClient) -> None:
    client, me = staff_client(clinic, Role.CLINICIAN)
    ana = patient_of(clinic, me, given_name="Ana", family_name="Quintero", external_id="MRN-4242")
    bo = patient_of(clinic, me, given_name="Bo", family_name="Lindqvist", external_id="MRN-1717")
    flag(bo, Severity.HIGH, [missed("2026-11-20T18:00:00+00:00")])

    assert shown(client.get(URL, {"q": "quint"})) == [ana.pk]
    assert shown(client.get(URL, {"q": "ana quintero"})) == [ana.pk]
    assert shown(client.get(URL, {"q": "MRN-1717"})) == [bo.pk]
    assert shown(client.get(URL, {"risk": "high"})) == [bo.pk]
    assert shown(client.get(URL, {"risk": "none"})) == [ana.pk]
    assert shown(client.get(URL, {"risk": "medium"})) == []
    assert shown(client.get(URL, {"q": "MRN-1717", "risk": "none"})) == []
    assert "No patients match." in client.get(URL, {"q": "nobody"}).content.decode()
    bad = client.get(URL, {"risk": "catastrophic"})
    assert bad.status_code == 200
    assert 'id="id_risk_error"' in bad.content.decode()
    assert set(shown(bad)) == {ana.pk, bo.pk}  # the field in error falls back to any risk


def test_a_case_manager_switches_to_a_clinicians_caseload_or_the_whole_clinic(
    clinic: Clinic, staff_client: StaffClient
) -> None:
    client, manager = staff_client(clinic, Role.CASE_MANAGER)
    clinician = MembershipFactory.create(clinic=clinic, role=Role.CLINICIAN).user
    theirs = patient_of(clinic, clinician)
    mine = patient_of(clinic, manager)
    nobodys = patient_of(clinic, None)

    own = client.get(URL)
    assert shown(own) == [mine.pk]
    body = own.content.decode()
    assert f'<option value="{clinician.pk}">{clinician.first_name} {clinician.last_name}</option>' in body
    assert '<option value="all">Whole clinic</option>' in body

    other = client.get(URL, {"whose": str(clinician.pk)})
    assert shown(other) == [theirs.pk]
    assert f"<h1>Caseload of {clinician.first_name} {clinician.last_name}</h1>" in other.content.decode()
    assert set(shown(client.get(URL, {"whose": "all"}))) == {theirs.pk, mine.pk, nobodys.pk}


def test_a_clinician_may_look_at_the_whole_clinic_but_not_at_another_clinics_clinician(
    clinic: Clinic, staff_client: StaffClient
) -> None:
    client, me = staff_client(clinic, Role.CLINICIAN)
    mine = patient_of(clinic, me)
    colleague = patient_of(clinic, MembershipFactory.create(clinic=clinic).user)
    elsewhere = ClinicFactory.create()
    stranger = MembershipFactory.create(clinic=elsewhere, role=Role.CLINICIAN).user
    theirs = patient_of(elsewhere, stranger)
    flag(theirs, Severity.HIGH, [missed("2026-11-20T18:00:00+00:00")])

    assert set(shown(client.get(URL, {"whose": "all"}))) == {mine.pk, colleague.pk}
    refused = client.get(URL, {"whose": str(stranger.pk)})
    assert refused.status_code == 200
    body = refused.content.decode()
    assert 'id="id_whose_error"' in body
    assert shown(refused) == [mine.pk]  # their own, never the other clinic's
    assert theirs.family_name not in body
    assert str(stranger.pk) not in body


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.AUDITOR])
def test_front_desk_and_auditors_are_refused_the_caseload(clinic: Clinic, staff_client: StaffClient, role: str) -> None:
    client, user = staff_client(clinic, role)
    patient_of(clinic, MembershipFactory.create(clinic=clinic).user)
    before = AccessEvent.objects.count()
    response = client.get(URL)
    assert response.status_code == 403
    assert "chip" not in response.content.decode()
    event = AccessEvent.objects.order_by("-at").first()
    assert AccessEvent.objects.count() == before + 1
    assert event is not None
    assert (event.action, event.object_type, event.actor) == ("denied", "dashboard.caseload", f"user:{user.pk}")


def test_a_signed_out_visitor_is_sent_to_sign_in(client: Client, db: None) -> None:
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"] == "/sign-in/?next=/caseload/"


def test_the_access_log_names_every_patient_shown_and_only_those(clinic: Clinic, staff_client: StaffClient) -> None:
    client, me = staff_client(clinic, Role.CLINICIAN)
    patients = [patient_of(clinic, me) for _ in range(3)]
    patient_of(clinic, MembershipFactory.create(clinic=clinic).user)  # not on my caseload
    before = AccessEvent.objects.count()
    response = client.get(URL)
    assert AccessEvent.objects.count() == before + 1
    event = AccessEvent.objects.order_by("-at").first()
    assert event is not None
    assert (event.action, event.object_type, event.user_id) == ("list", "dashboard.caseload", me.pk)
    assert event.object_ids == shown(response)
    assert set(event.patient_ids) == {patient.pk for patient in patients}


def test_fifty_a_page_and_the_page_links_keep_the_filters(clinic: Clinic, staff_client: StaffClient) -> None:
    client, me = staff_client(clinic, Role.CLINICIAN)
    Patient.objects.bulk_create(
        [PatientFactory.build(clinic=clinic, assigned_clinician=me, family_name="Garcia") for _ in range(51)]
    )
    first = client.get(URL, {"q": "garcia"})
    assert len(shown(first)) == 50
    assert 'href="?q=garcia&amp;page=2"' in first.content.decode()
    second = client.get(URL, {"q": "garcia", "page": "2"})
    assert len(shown(second)) == 1
    assert set(shown(first)).isdisjoint(shown(second))
    event = AccessEvent.objects.order_by("-at").first()
    assert event is not None
    assert event.object_ids == shown(second)
    assert len(shown(client.get(URL, {"q": "garcia", "page": "nonsense"}))) == 50


def test_each_name_links_to_the_patient_page(clinic: Clinic, staff_client: StaffClient, settings: Any) -> None:
    client, me = staff_client(clinic, Role.CLINICIAN)
    patient = patient_of(clinic, me)
    body = client.get(URL).content.decode()
    assert f'<a href="/patients/{patient.pk}/">{patient.family_name}, {patient.given_name}</a>' in body


# The staff member (session, user, authenticator device, membership with its clinic), the care
# staff for the switch, the count, the page's ranking, its rows' figures, their open flags, and the
# access event (written with its change-history context).
CASELOAD_PAGE_QUERIES = 10


@pytest.mark.parametrize("size", [10, 1000])
@pytest.mark.parametrize("whose", ["", "all"])
def test_the_page_costs_the_same_queries_for_10_and_1000_patients(
    clinic: Clinic, staff_client: StaffClient, size: int, whose: str
) -> None:
    client, me = staff_client(clinic, Role.CLINICIAN)
    patients = Patient.objects.bulk_create(
        [PatientFactory.build(clinic=clinic, assigned_clinician=me) for _ in range(size)]
    )
    evaluate(patient_ids=[patient.pk for patient in patients])  # a no_contact flag for each of them
    client.get(URL)  # warm: whatever a first request caches
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL, {"whose": whose})
    assert len(shown(response)) == min(size, 50)
    assert all(row.open_flags and row.reason for row in response.context["rows"])
    assert len(queries) == CASELOAD_PAGE_QUERIES, "\n".join(q["sql"][:150] for q in queries.captured_queries)


def test_the_api_answers_the_same_caseload_in_the_same_order(clinic: Clinic, staff_client: StaffClient) -> None:
    client, me = staff_client(clinic, Role.CLINICIAN)
    day = today(clinic)
    discharged = patient_of(clinic, me, status=PatientStatus.DISCHARGED, intake_date=day - datetime.timedelta(days=90),
                            discharge_date=day - datetime.timedelta(days=3))  # fmt: skip
    flagged = patient_of(clinic, me)
    flag(flagged, Severity.MEDIUM, [missed("2026-11-20T18:00:00+00:00"), missed("2026-11-27T18:00:00+00:00")])
    calm = patient_of(clinic, me)
    attended(calm, 1)
    page = shown(client.get(URL))
    api = client.get("/api/v1/dashboard/caseload/", HTTP_ACCEPT="application/json").json()["results"]
    assert [uuid.UUID(row["patient"]) for row in api] == page
    assert page[0] == flagged.pk
    assert set(page) == {discharged.pk, flagged.pk, calm.pk}
