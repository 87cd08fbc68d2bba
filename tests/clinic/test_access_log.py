"""The access log: every API route writes one event for an allowed call and a `denied` one for an
attempt on another clinic's record; the database refuses to change it; auditors and admins read it,
filter it and export it; admin pages on patient records are logged too."""

from __future__ import annotations

import csv
import datetime
import io
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from aftercare.models import CheckIn
from aftercare.risk.engine import evaluate
from clinic.models import AccessEvent, Clinic, Role
from clinic.selectors.access import access_export_verify
from tests.conftest import Persona
from tests.factories import verified_login

API = "/api/v1/"
TODAY = datetime.datetime.now(tz=datetime.UTC).date()


def _api_routes() -> dict[str, tuple[str, dict[str, str]]]:
    """Every API route: name -> (regex of its path, its method -> viewset action)."""
    found: dict[str, tuple[str, dict[str, str]]] = {}

    def walk(resolver: URLResolver, prefix: str) -> None:
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                walk(entry, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern) and (prefix + str(entry.pattern)).startswith("api/v1/"):
                found[str(entry.name)] = (prefix + str(entry.pattern), getattr(entry.callback, "actions", {}))

    walk(get_resolver(), "")
    return found


ROUTES = _api_routes()


def build(persona: Persona, clinician: str) -> dict[str, Any]:
    """One of everything the API serves, made through the API by this clinic's client."""
    api = persona.api
    ids: dict[str, Any] = {}

    def made(url: str, body: dict[str, Any]) -> dict[str, Any]:
        response = api.post(url, body, format="json")
        assert response.status_code in (200, 201), (url, response.json())
        return dict(response.json())

    patient = made(f"{API}patients/", {
        "given_name": "Ana", "family_name": "Rivera", "date_of_birth": "1988-04-02",
        "intake_date": "2026-01-05", "email": "ana.rivera@example.org", "reminders_opt_in": True,
        "assigned_clinician": clinician,
    })  # fmt: skip
    ids["patient_id"] = patient["id"]
    ids["patient"] = patient["id"]
    ids["plan"] = made(f"{API}plans/", {"patient": patient["id"], "status": "active", "start_date": "2026-01-05"})["id"]
    other = made(f"{API}patients/", {
        "given_name": "Ben", "family_name": "Okafor", "date_of_birth": "1990-01-01", "intake_date": "2026-01-05",
    })  # fmt: skip
    ids["draft_plan"] = made(f"{API}plans/", {"patient": other["id"], "status": "draft"})["id"]
    ids["clinician"] = clinician
    ids["staff"] = clinician  # the directory names a person by their user id
    start = timezone.now() + datetime.timedelta(days=3)
    ids["appointment"] = made(f"{API}appointments/", {
        "patient": patient["id"], "clinician": clinician, "kind": "individual_therapy",
        "starts_at": start.isoformat(), "ends_at": (start + datetime.timedelta(minutes=50)).isoformat(),
    })["id"]  # fmt: skip
    ids["appointment-series"] = made(f"{API}appointment-series/", {
        "patient": patient["id"], "clinician": clinician, "kind": "individual_therapy",
        "rrule": "FREQ=WEEKLY;COUNT=3", "starts_on": str(TODAY + datetime.timedelta(days=10)),
        "local_start_time": "10:00", "duration_minutes": 50,
    })["id"]  # fmt: skip
    ids["support-group"] = made(f"{API}support-groups/", {"name": "Tuesday group", "kind": "smart"})["id"]
    made(f"{API}support-groups/{ids['support-group']}/members/", {"patient": patient["id"]})
    ids["group-session"] = made(f"{API}group-sessions/", {
        "group": ids["support-group"], "starts_at": (start + datetime.timedelta(days=1)).isoformat(),
        "ends_at": (start + datetime.timedelta(days=1, hours=1)).isoformat(),
    })["id"]  # fmt: skip
    ids["outside-meeting"] = made(f"{API}outside-meetings/", {
        "patient": patient["id"], "kind": "twelve_step", "date": str(TODAY - datetime.timedelta(days=2)),
    })["id"]  # fmt: skip
    reminders = api.get(f"{API}reminders/", {"patient": patient["id"]}).json()["results"]
    ids["reminder"] = reminders[0]["id"]
    evaluate()  # the patient has had no contact since January: a flag
    ids["flag"] = api.get(f"{API}flags/", {"patient": patient["id"]}).json()["results"][0]["id"]
    ids["outreach-attempt"] = made(f"{API}outreach-attempts/", {
        "patient": patient["id"], "flag": ids["flag"], "channel": "phone", "outcome": "no_answer",
    })["id"]  # fmt: skip
    yesterday = str(TODAY - datetime.timedelta(days=1))
    ids["care-transition"] = made(f"{API}care-transitions/", {
        "patient": patient["id"], "direction": "entered_aftercare", "level_of_care": "residential",
        "occurred_on": yesterday,
    })["id"]  # fmt: skip
    ids["medication-event"] = made(f"{API}medication-events/", {
        "patient": patient["id"], "medication": "methadone", "kind": "dose_observed", "occurred_on": yesterday,
    })["id"]  # fmt: skip
    ids["drug-screen"] = made(f"{API}drug-screens/", {
        "patient": patient["id"], "collected_on": yesterday,
        "analyte_results": [{"analyte": "fentanyl", "result": "negative"}],
    })["id"]  # fmt: skip
    # Check-ins are made by the schedule, never through the API: one, as the schedule writes it.
    ids["check-in"] = str(
        CheckIn.objects.create(
            clinic=persona.clinic, patient_id=patient["id"], plan_id=ids["plan"], due_on=TODAY,
            send_at=timezone.now(),
        ).pk
    )  # fmt: skip
    ids["patient-consent"] = made(f"{API}patients/{patient['id']}/consents/", {
        "recipient_name": "County Court Program", "purpose": "Treatment coordination",
        "categories": ["demographics", "attendance"], "expires_on": "2030-01-01",
        "signed_on": str(TODAY - datetime.timedelta(days=1)),
    })["id"]  # fmt: skip
    release = made(f"{API}patients/{patient['id']}/disclosures/", {
        "consent": ids["patient-consent"], "recipient_name": "County Court Program", "categories": ["attendance"],
    })  # fmt: skip
    ids["patient-disclosure"] = release["disclosure"]["id"]
    ids["risk-rule"] = "no_contact"
    return ids


# Bodies for the routes that only take a POST (every other route is called with GET), and which of
# the built objects the path names.
POST_ONLY: dict[str, Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]] = {
    "plan-activate": lambda ids: ("draft_plan", {}),
    "plan-complete": lambda ids: ("plan", {}),
    "plan-discontinue": lambda ids: ("plan", {}),
    "patient-consent-revoke": lambda ids: ("patient-consent", {"reason": "Patient withdrew consent"}),
    "appointment-series-end": lambda ids: (
        "appointment-series",
        {"ended_on": str(TODAY + datetime.timedelta(days=11))},
    ),
    "support-group-leave": lambda ids: ("support-group", {"patient": ids["patient"]}),
    "flag-acknowledge": lambda ids: ("flag", {}),
    "flag-dismiss": lambda ids: ("flag", {"note": "Reached by phone"}),
    "flag-resolve": lambda ids: ("flag", {"note": "Reached by phone"}),
    "care-transition-entered-in-error": lambda ids: ("care-transition", {"reason": "Charted twice"}),
    "medication-event-entered-in-error": lambda ids: ("medication-event", {"reason": "Charted twice"}),
    "drug-screen-entered-in-error": lambda ids: ("drug-screen", {"reason": "Charted twice"}),
}


def _object_of(name: str) -> str:
    """The built object a route's `pk` names: its basename (`flag-resolve` -> `flag`)."""
    for basename in sorted({name.rsplit("-", 1)[0] for name in ROUTES} | set(ROUTES), key=len, reverse=True):
        if name.startswith(basename + "-") and f"{basename}-detail" in ROUTES:
            return basename
    raise AssertionError(name)


def url_for(name: str, ids: dict[str, Any], obj: str | None = None) -> str:
    regex, _actions = ROUTES[name]
    path = regex.replace("^", "").replace("$", "")
    if "(?P<pk>" in path:
        path = re.sub(r"\(\?P<pk>[^)]+\)", str(ids[obj or _object_of(name)]), path)
    path = re.sub(r"\(\?P<patient_id>[^)]+\)", str(ids["patient_id"]), path)
    return "/" + path


def call(persona: Persona, name: str, ids: dict[str, Any]) -> Any:
    if name in POST_ONLY:
        obj, body = POST_ONLY[name](ids)
        return persona.api.post(url_for(name, ids, obj), body, format="json")
    query = {"clinician": ids["clinician"]} if name == "dashboard-caseload" else {}
    return persona.api.get(url_for(name, ids), query)


@pytest.fixture
def world(clinic_a: Clinic, clinic_b: Clinic, make_client: Any, make_staff: Any) -> dict[str, Any]:
    ehr_a, ehr_b = make_client(clinic_a), make_client(clinic_b)
    mine = build(ehr_a, str(make_staff(clinic_a, Role.CLINICIAN).user.pk))
    theirs = build(ehr_b, str(make_staff(clinic_b, Role.CLINICIAN).user.pk))
    return {"ehr_a": ehr_a, "mine": mine, "theirs": theirs}


def test_the_walk_covers_every_api_route() -> None:
    assert {"patient-list", "appointment-detail", "flag-resolve", "access-event-export"} <= set(ROUTES)
    assert all("get" in actions for name, (_r, actions) in ROUTES.items() if name not in POST_ONLY)


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_every_api_route_logs_an_allowed_call_and_a_cross_clinic_attempt(name: str, world: dict[str, Any]) -> None:
    ehr_a, mine, theirs = world["ehr_a"], world["mine"], world["theirs"]
    before = set(AccessEvent.objects.values_list("id", flat=True))
    response = call(ehr_a, name, mine)
    assert 200 <= response.status_code < 300, (name, response.status_code, getattr(response, "data", None))
    (event,) = AccessEvent.objects.exclude(id__in=before)
    assert (event.clinic_id, event.actor, event.status_code) == (ehr_a.clinic.pk, f"client:{ehr_a.client.pk}", 200)
    assert event.action != "denied"
    assert event.path == response.request["PATH_INFO"]
    regex = ROUTES[name][0]
    if "<patient_id>" in regex or name.startswith("patient-") or name in {"dashboard-caseload"}:
        assert uuid.UUID(mine["patient"]) in event.patient_ids, (name, event.patient_ids)
    if "(?P<pk>[^/.]+)" in regex:
        assert any(str(i) in event.path for i in event.object_ids), (name, event.object_ids)
        # The same route on the other clinic's record: 404, and a `denied` event naming it.
        before = set(AccessEvent.objects.values_list("id", flat=True))
        refused = call(ehr_a, name, theirs)
        assert refused.status_code == 404, (name, refused.status_code)
        (denied,) = AccessEvent.objects.exclude(id__in=before)
        assert denied.action == "denied"
        assert denied.clinic_id == ehr_a.clinic.pk
        obj = POST_ONLY[name](theirs)[0] if name in POST_ONLY else _object_of(name)
        assert [str(i) for i in denied.object_ids] == [str(theirs[obj])]
        if "<patient_id>" in regex:
            assert denied.patient_ids == [uuid.UUID(theirs["patient"])]


def test_a_list_writes_one_event_naming_every_id_it_returned(ehr_a: Persona, world: dict[str, Any]) -> None:
    api = world["ehr_a"].api
    before = AccessEvent.objects.count()
    page = api.get(f"{API}appointments/").json()["results"]
    assert AccessEvent.objects.count() == before + 1
    event = AccessEvent.objects.order_by("-at").first()
    assert event is not None
    assert event.action == "list"
    assert event.object_type == "appointment"
    assert [str(i) for i in event.object_ids] == [row["id"] for row in page]
    assert {str(i) for i in event.patient_ids} == {row["patient"] for row in page}


def test_a_refused_role_is_a_denied_event(clinic_a: Clinic, make_staff: Any) -> None:
    front_desk = make_staff(clinic_a, Role.FRONT_DESK)
    assert front_desk.api.get(f"{API}flags/").status_code == 403
    event = AccessEvent.objects.get()
    assert (event.action, event.actor, event.status_code) == ("denied", f"user:{front_desk.user.pk}", 403)


def test_an_anonymous_call_names_no_one_and_writes_nothing(anonymous: Any, db: None) -> None:
    assert anonymous.get(f"{API}patients/").status_code == 401
    assert not AccessEvent.objects.exists()


def test_the_database_refuses_to_change_or_delete_an_event(ehr_a: Persona) -> None:
    ehr_a.api.get(f"{API}patients/")
    event = AccessEvent.objects.get()
    for statement in (
        "UPDATE clinic_accessevent SET actor = 'user:00000000-0000-0000-0000-000000000000'",
        "DELETE FROM clinic_accessevent",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    with pytest.raises(DatabaseError), transaction.atomic():
        AccessEvent.objects.filter(pk=event.pk).update(action="view")
    assert AccessEvent.objects.get().actor == event.actor


def test_each_request_carries_a_request_id_into_its_event(ehr_a: Persona) -> None:
    given = str(uuid.uuid4())
    response = ehr_a.api.get(f"{API}patients/", HTTP_X_REQUEST_ID=given)
    assert response["X-Request-ID"] == given
    assert AccessEvent.objects.get().request_id == given
    # Not a UUID: replaced by one of our own, never copied into logs or the access log.
    response = ehr_a.api.get(f"{API}patients/", HTTP_X_REQUEST_ID="<script>")
    assert response["X-Request-ID"] != "<script>"
    assert not AccessEvent.objects.filter(request_id="<script>").exists()


def test_auditors_and_admins_read_the_log_and_care_staff_do_not(
    clinic_a: Clinic, clinic_b: Clinic, make_staff: Any, world: dict[str, Any]
) -> None:
    auditor, admin, clinician = (make_staff(clinic_a, role) for role in (Role.AUDITOR, Role.ADMIN, Role.CLINICIAN))
    patient = world["mine"]["patient"]
    assert clinician.api.get(f"{API}access-events/").status_code == 403
    for reader in (auditor, admin):
        events = reader.api.get(f"{API}access-events/", {"patient": patient}).json()["results"]
        assert events
        assert all(patient in event["patient_ids"] for event in events)
    # Clinic B's events (its client built its world too) are not clinic A's to read.
    every = auditor.api.get(f"{API}access-events/", {"page_size": 200}).json()["results"]
    assert not AccessEvent.objects.filter(clinic=clinic_b, id__in=[e["id"] for e in every]).exists()
    by_actor = auditor.api.get(f"{API}access-events/", {"actor": f"user:{clinician.user.pk}"}).json()["results"]
    assert [e["action"] for e in by_actor] == ["denied"]
    later = auditor.api.get(f"{API}access-events/", {"since": "2999-01-01T00:00:00Z"}).json()["results"]
    assert later == []
    bad = auditor.api.get(f"{API}access-events/", {"since": "yesterday"})
    assert bad.status_code == 400
    assert "since" in str(bad.json())


def test_the_log_exports_as_csv_and_the_export_is_logged(
    clinic_a: Clinic, make_staff: Any, world: dict[str, Any]
) -> None:
    auditor = make_staff(clinic_a, Role.AUDITOR)
    patient = world["mine"]["patient"]
    response = auditor.api.get(f"{API}access-events/export/", {"patient": patient})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content)
    # Complete: the trailer's count and checksum match the file.
    count = access_export_verify(io.BytesIO(body))
    rows = list(csv.DictReader(io.StringIO(body.decode().rsplit("# rows=", 1)[0])))
    assert len(rows) == count
    # Every event on the patient, the export's own included (it is written before the rows stream).
    expected = AccessEvent.objects.filter(clinic=clinic_a, patient_ids__contains=[patient])
    assert {row["id"] for row in rows} == {str(event.id) for event in expected}
    assert len(rows) > 5
    export = AccessEvent.objects.filter(actor=f"user:{auditor.user.pk}").get()
    assert (export.action, export.object_type) == ("export", "access-event.export")
    assert [str(i) for i in export.patient_ids] == [patient]


@pytest.mark.parametrize(
    ("model", "key"), [("patient", "patient"), ("consent", "patient-consent"), ("disclosure", "patient-disclosure")]
)
def test_admin_pages_on_patient_records_are_logged(
    model: str, key: str, clinic_a: Clinic, client: Any, make_staff: Any, world: dict[str, Any]
) -> None:
    admin_user = make_staff(clinic_a, Role.ADMIN, is_staff=True).user
    verified_login(client, admin_user)
    mine, theirs = world["mine"][key], world["theirs"][key]
    before = set(AccessEvent.objects.values_list("id", flat=True))
    assert client.get(f"/admin/clinic/{model}/").status_code == 200
    assert client.get(f"/admin/clinic/{model}/{mine}/change/").status_code == 200
    client.get(f"/admin/clinic/{model}/{theirs}/change/")
    assert client.get(f"/admin/clinic/{model}/{mine}/history/").status_code == 200
    assert client.get(f"/admin/clinic/{model}/{mine}/delete/").status_code == 403
    events = list(AccessEvent.objects.exclude(id__in=before).order_by("at"))
    assert [(e.action, e.status_code) for e in events] == [
        ("list", 200), ("view", 200), ("denied", 302), ("view", 200), ("denied", 403),
    ]  # fmt: skip
    assert all(e.actor == f"user:{admin_user.pk}" and e.clinic_id == clinic_a.pk for e in events)
    assert {e.object_type for e in events} == {f"admin.{model}"}
    assert uuid.UUID(mine) in events[0].object_ids
    assert uuid.UUID(world["mine"]["patient"]) in events[0].patient_ids
    assert events[1].object_ids == [uuid.UUID(mine)]
    assert events[1].patient_ids == [uuid.UUID(world["mine"]["patient"])]
    assert events[2].object_ids == [uuid.UUID(theirs)]
    assert all(e.object_ids == [uuid.UUID(mine)] for e in events[3:])


def test_options_on_another_clinics_record_is_a_404_and_a_denied_event_never_a_view(world: dict[str, Any]) -> None:
    """An OPTIONS (metadata) request on another clinic's id used to answer 200 and log a `view` of
    that record. It now answers 404, as every other method does, and logs the attempt as `denied`;
    on the caller's own record it reads nothing, so it logs nothing."""
    ehr_a, mine, theirs = world["ehr_a"], world["mine"], world["theirs"]
    routes = [name for name, (regex, _actions) in ROUTES.items() if "(?P<pk>[^/.]+)" in regex]
    assert "patient-detail" in routes
    for name in routes:
        obj = POST_ONLY[name](theirs)[0] if name in POST_ONLY else _object_of(name)
        before = set(AccessEvent.objects.values_list("id", flat=True))
        refused = ehr_a.api.options(url_for(name, theirs, obj))
        assert refused.status_code == 404, (name, refused.status_code)
        (denied,) = AccessEvent.objects.exclude(id__in=before)
        assert denied.action == "denied", name
        assert [str(i) for i in denied.object_ids] == [str(theirs[obj])], name

        before = set(AccessEvent.objects.values_list("id", flat=True))
        own = ehr_a.api.options(url_for(name, mine, obj))
        assert own.status_code == 200, (name, own.status_code)
        assert not AccessEvent.objects.exclude(id__in=before).exists(), name


def test_reading_an_appointments_attendance_history_names_its_patient(world: dict[str, Any]) -> None:
    """The history's rows name no patient, so the event used to name none: "who viewed this patient"
    missed every read of their attendance history."""
    ehr_a, mine = world["ehr_a"], world["mine"]
    before = set(AccessEvent.objects.values_list("id", flat=True))
    response = ehr_a.api.get(f"{API}appointments/{mine['appointment']}/attendance/")
    assert response.status_code == 200
    (event,) = AccessEvent.objects.exclude(id__in=before)
    assert (event.action, event.object_type) == ("view", "appointment.attendance")
    assert event.patient_ids == [uuid.UUID(mine["patient"])]
    assert [str(i) for i in event.object_ids] == [mine["appointment"]]
