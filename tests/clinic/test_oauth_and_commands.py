"""Integration clients end to end: provisioned from the command line, tokens from /o/token/."""

from __future__ import annotations

import datetime
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from oauth2_provider.models import AccessToken
from rest_framework.test import APIClient

from clinic.models import Clinic, IntegrationClient, Patient, StaffMembership, User
from tests.clinic.test_patients_api import LIST, new_patient
from tests.factories import ClinicFactory, PatientFactory, access_token, integration_client

TOKEN_URL = "/o/token/"


def token_for(client_id: str, secret: str, scope: str | None = None) -> Any:
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    if scope is not None:
        data["scope"] = scope
    return APIClient().post(TOKEN_URL, data, format="multipart")


def bearer(token: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def run(command: str, *args: str) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def demo(db: None, settings: Any, tmp_path: Path) -> dict[str, str]:
    settings.DATA_DIR = tmp_path
    output = run("seed_demo")
    client_id = re.search(r"client_id:\s+(\S+)", output)
    secret = re.search(r"client_secret:\s+(\S+)", output)
    assert client_id
    assert secret
    return {"client_id": client_id.group(1), "client_secret": secret.group(1), "output": output}


def test_the_demo_clients_credentials_get_a_token_that_creates_reads_updates_and_lists_patients(
    demo: dict[str, str],
) -> None:
    response = token_for(demo["client_id"], demo["client_secret"])
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert "refresh_token" not in body
    api = bearer(body["access_token"])

    created = api.post(LIST, new_patient())
    assert created.status_code == 201
    patient_url = f"{LIST}{created.json()['id']}/"
    assert api.get(patient_url).status_code == 200
    assert api.patch(patient_url, {"reminders_opt_in": False}).json()["reminders_opt_in"] is False
    listed = api.get(LIST, {"external_id": "MRN-100"}).json()["results"]
    assert [row["id"] for row in listed] == [created.json()["id"]]


def test_the_demo_client_of_another_clinic_gets_404(demo: dict[str, str]) -> None:
    other = PatientFactory.create(clinic=ClinicFactory.create())
    api = bearer(token_for(demo["client_id"], demo["client_secret"]).json()["access_token"])
    assert api.get(f"{LIST}{other.pk}/").status_code == 404
    assert api.patch(f"{LIST}{other.pk}/", {"given_name": "X"}).status_code == 404


def test_seeding_twice_duplicates_nothing_and_prints_the_same_logins(demo: dict[str, str]) -> None:
    from aftercare.models import AftercarePlan, Appointment, GroupAttendance

    counts = (Clinic.objects.count(), User.objects.count(), Patient.objects.count(), IntegrationClient.objects.count())
    history = (Appointment.objects.count(), AftercarePlan.objects.count(), GroupAttendance.objects.count())
    assert history[0] > 500
    assert Appointment.objects.exclude(attendance_status="scheduled").count() > 300
    again = run("seed_demo")
    assert (
        Clinic.objects.count(),
        User.objects.count(),
        Patient.objects.count(),
        IntegrationClient.objects.count(),
    ) == counts
    assert counts[2] >= 50
    assert (Appointment.objects.count(), AftercarePlan.objects.count(), GroupAttendance.objects.count()) == history
    assert again.splitlines()[-2:] == demo["output"].splitlines()[-2:]
    assert StaffMembership.objects.filter(clinic__slug="demo").values("role").distinct().count() == 5


def test_seeding_a_production_deployment_is_refused(db: None, settings: Any) -> None:
    settings.DEBUG = False
    settings.EMBEDDED = False
    with pytest.raises(CommandError, match="production"):
        run("seed_demo")


def test_a_token_request_with_a_wrong_secret_is_refused(demo: dict[str, str]) -> None:
    response = token_for(demo["client_id"], "wrong")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_a_client_cannot_ask_for_a_scope_it_was_not_given(db: None) -> None:
    output = run("create_clinic", "--slug", "north", "--name", "North", "--time-zone", "America/Denver")
    assert json.loads(output)["slug"] == "north"
    credentials = json.loads(
        run("create_api_client", "--clinic", "north", "--name", "EHR", "--scopes", "patients:read")
    )
    assert token_for(credentials["client_id"], credentials["client_secret"], "patients:write").status_code == 400
    granted = token_for(credentials["client_id"], credentials["client_secret"])
    assert granted.json()["scope"] == "patients:read"
    api = bearer(granted.json()["access_token"])
    assert api.get(LIST).status_code == 200
    assert api.post(LIST, new_patient()).status_code == 403


def test_an_expired_token_gets_401(ehr_a: Any) -> None:
    token = access_token(ehr_a.client, expires=timezone.now() - datetime.timedelta(seconds=1))
    assert bearer(token).get(LIST).status_code == 401


def test_a_token_revoked_at_the_revocation_endpoint_gets_401(clinic_a: Clinic) -> None:
    credentials = json.loads(
        run("create_api_client", "--clinic", clinic_a.slug, "--name", "EHR", "--scopes", "patients:read")
    )
    token = token_for(credentials["client_id"], credentials["client_secret"]).json()["access_token"]
    assert bearer(token).get(LIST).status_code == 200
    revoked = APIClient().post(
        "/o/revoke_token/",
        {"token": token, "client_id": credentials["client_id"], "client_secret": credentials["client_secret"]},
        format="multipart",
    )
    assert revoked.status_code == 200
    assert bearer(token).get(LIST).status_code == 401


def test_tokens_are_stored_hashed(clinic_a: Clinic) -> None:
    credentials = json.loads(
        run("create_api_client", "--clinic", clinic_a.slug, "--name", "EHR", "--scopes", "patients:read")
    )
    token = token_for(credentials["client_id"], credentials["client_secret"]).json()["access_token"]
    stored = AccessToken.objects.get()
    assert token not in (stored.token, stored.token_checksum)


def test_a_token_in_the_query_string_is_not_accepted(ehr_a: Any) -> None:
    token = access_token(ehr_a.client)
    response = APIClient().get(f"{LIST}?access_token={token}")
    assert response.status_code in (400, 401)


def test_a_deactivated_client_gets_401_at_once(ehr_a: Any) -> None:
    IntegrationClient.objects.filter(pk=ehr_a.client.pk).update(is_active=False)
    assert ehr_a.api.get(LIST).status_code == 401


def test_another_clients_deactivation_leaves_a_client_its_tokens(db: None, clinic_a: Clinic) -> None:
    run("create_api_client", "--clinic", clinic_a.slug, "--name", "Old", "--scopes", "patients:read")
    client = IntegrationClient.objects.get(name="Old")
    client.is_active = False
    client.save()
    credentials = json.loads(
        run("create_api_client", "--clinic", clinic_a.slug, "--name", "New", "--scopes", "patients:read")
    )
    assert token_for(credentials["client_id"], credentials["client_secret"]).status_code == 200


@pytest.mark.parametrize("deactivated", ["client", "clinic"])
def test_a_deactivated_client_is_an_invalid_client_at_the_token_endpoint_and_its_tokens_stop(
    db: None, deactivated: str
) -> None:
    """RFC 6749 §5.2: a client that may not authenticate is `invalid_client` (401). A deactivated
    client used to pass authentication and get a 400 about scopes instead."""
    clinic = ClinicFactory.create()
    credentials = json.loads(
        run("create_api_client", "--clinic", clinic.slug, "--name", "EHR", "--scopes", "patients:read")
    )
    token = token_for(credentials["client_id"], credentials["client_secret"]).json()["access_token"]
    assert bearer(token).get(LIST).status_code == 200
    if deactivated == "client":
        IntegrationClient.objects.filter(clinic=clinic).update(is_active=False)
    else:
        Clinic.objects.filter(pk=clinic.pk).update(is_active=False)
    refused = token_for(credentials["client_id"], credentials["client_secret"])
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    assert "access_token" not in refused.json()
    assert bearer(token).get(LIST).status_code == 401


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--slug", "x", "--name", "X", "--time-zone", "Mars/Olympus"], "time_zone"),
        (["--slug", "bad slug!", "--name", "X", "--time-zone", "UTC"], "slug"),
        # Patients would see this name in their email.
        (["--slug", "x", "--name", "Lakeside Recovery Center", "--time-zone", "UTC"], "display_name"),
        (["--slug", "x", "--name", "X", "--display-name", "Metadona Centro", "--time-zone", "UTC"], "display_name"),
    ],
)
def test_create_clinic_names_the_bad_option(db: None, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run("create_clinic", *args)
    assert not Clinic.objects.exists()


def test_a_clinic_with_a_revealing_name_is_fine_with_a_neutral_display_name(db: None) -> None:
    run("create_clinic", "--slug", "lakeside", "--name", "Lakeside Recovery Center", "--time-zone", "UTC",
        "--display-name", "Lakeside Health")  # fmt: skip
    assert Clinic.objects.get().public_name == "Lakeside Health"


def test_create_clinic_refuses_a_duplicate_slug(db: None) -> None:
    run("create_clinic", "--slug", "dup", "--name", "One", "--time-zone", "UTC")
    with pytest.raises(CommandError, match="slug"):
        run("create_clinic", "--slug", "dup", "--name", "Two", "--time-zone", "UTC")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--clinic", "nowhere", "--name", "EHR", "--scopes", "patients:read"], "clinic"),
        (["--clinic", "clinic-a", "--name", "EHR", "--scopes", "patients:delete"], "patients:delete"),
        (["--clinic", "clinic-a", "--name", "EHR", "--scopes", ""], "scopes"),
    ],
)
def test_create_api_client_names_the_bad_option(clinic_a: Clinic, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run("create_api_client", *args)
    assert not IntegrationClient.objects.exists()


def test_client_secrets_are_stored_hashed(clinic_a: Clinic) -> None:
    credentials = json.loads(
        run("create_api_client", "--clinic", clinic_a.slug, "--name", "EHR", "--scopes", "patients:read")
    )
    stored = IntegrationClient.objects.get().application.client_secret
    assert credentials["client_secret"] not in stored
    assert stored.startswith(("pbkdf2_", "md5$", "argon2", "bcrypt"))


def test_only_the_client_credentials_endpoints_of_the_toolkit_are_exposed(db: None) -> None:
    api = APIClient()
    for path in ("/o/authorize/", "/o/applications/", "/o/introspect/", "/o/authorized_tokens/"):
        assert api.get(path).status_code == 404


def test_a_token_from_another_clinics_client_never_sees_this_clinic(clinic_a: Clinic, clinic_b: Clinic) -> None:
    mine = PatientFactory.create(clinic=clinic_a)
    theirs = bearer(access_token(integration_client(clinic_b, ["patients:read"])))
    assert theirs.get(f"{LIST}{mine.pk}/").status_code == 404
    assert theirs.get(LIST).json()["results"] == []


def test_the_demo_has_sessions_to_mark_on_the_day_it_is_loaded(db: None, settings: Any, tmp_path: Path) -> None:
    """A newcomer's first look at the Today board is not empty on a weekday (a Wednesday here),
    and group sessions are booked ahead for the rosters."""
    import datetime
    import zoneinfo

    import time_machine

    from aftercare.models import Appointment, GroupSession

    settings.DATA_DIR = tmp_path
    chicago = zoneinfo.ZoneInfo("America/Chicago")
    with time_machine.travel(datetime.datetime(2026, 12, 2, 7, 0, tzinfo=chicago), tick=False):
        run("seed_demo")
        day = datetime.datetime(2026, 12, 2, tzinfo=chicago)
        today = Appointment.objects.filter(starts_at__gte=day, starts_at__lt=day + datetime.timedelta(days=1))
        assert today.count() >= 3
        assert today.values("clinician").distinct().count() >= 2
        assert GroupSession.objects.filter(starts_at__gt=day).count() >= 8
