"""The organisation half of the demo clinic: staff of every role, a caseload of patients, an EHR
client. Idempotent. (`manage.py seed_demo` adds months of aftercare history on top.)

Credentials are generated once and kept in `<data dir>/demo-credentials.json` (mode 0600), so a
second run prints the same logins (and the same authenticator keys) and creates nothing twice;
the printed recovery codes are new at every load.
"""

from __future__ import annotations

import datetime
import enum
import json
import os
import random
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from clinic.auth.scopes import SCOPES
from clinic.models import Clinic, IntegrationClient, Language, PatientStatus, Role, User
from clinic.services.clinics import clinic_create, membership_grant
from clinic.services.integration import integration_client_create, integration_client_rotate_secret
from clinic.services.mfa import mfa_enroll, mfa_secret_text
from clinic.services.patients import patient_upsert

DEMO_SLUG = "demo"
DEMO_CLIENT_NAME = "Demo EHR interface"
PATIENT_COUNT = 60


@dataclass(frozen=True)
class DemoStaff:
    username: str
    first_name: str
    last_name: str
    role: Role


STAFF = [
    DemoStaff("demo.admin", "Dana", "Whitfield", Role.ADMIN),
    DemoStaff("demo.clinician", "Marcus", "Oyelaran", Role.CLINICIAN),
    DemoStaff("demo.clinician2", "Lucia", "Ferreira", Role.CLINICIAN),
    DemoStaff("demo.casemanager", "Priya", "Raman", Role.CASE_MANAGER),
    DemoStaff("demo.frontdesk", "Tom", "Kowalski", Role.FRONT_DESK),
    DemoStaff("demo.auditor", "Grace", "Hollis", Role.AUDITOR),
]


@dataclass(frozen=True)
class DemoLogin:
    """What a newcomer types at the sign-in page to be this demo user."""

    user: User
    member: DemoStaff
    recovery_codes: list[str]
    secret: str  # the authenticator's key, base32 as apps take it
    key: str  # the same, hex (kept for the next load)


@dataclass(frozen=True)
class DemoOrganisation:
    clinic: Clinic
    staff: list[tuple[User, DemoStaff]]
    password: str
    client_id: str
    client_secret: str
    logins: list[DemoLogin]


def seed_organisation() -> DemoOrganisation:
    """The demo clinic, its staff, its caseload and its EHR client. Idempotent."""
    credentials_path = Path(settings.DATA_DIR) / "demo-credentials.json"
    saved = _load(credentials_path)
    with transaction.atomic():
        clinic = _clinic()
        password = saved.get("password") or secrets.token_urlsafe(15)
        staff = _staff(clinic, password)
        _patients(clinic, [user for user, member in staff if member.role in (Role.CLINICIAN, Role.CASE_MANAGER)])
        client_id, client_secret = _client(clinic, saved)
        keys = saved.get("totp_keys")
        logins = _second_factors(staff, keys if isinstance(keys, dict) else {})
    _save(
        credentials_path,
        {
            "password": password,
            "client_id": client_id,
            "client_secret": client_secret,
            "totp_keys": {login.user.username: login.key for login in logins},
        },
    )
    return DemoOrganisation(clinic, staff, password, client_id, client_secret, logins)


def _second_factors(staff: list[tuple[User, DemoStaff]], keys: dict[str, Any]) -> list[DemoLogin]:
    """Every demo user's second factor: the same authenticator key at every load (an app that
    holds it keeps working), and fresh recovery codes each time (each works once)."""
    result = []
    for user, member in staff:
        saved = keys.get(user.username)
        valid = isinstance(saved, str) and re.fullmatch(r"[0-9a-f]{40}", saved) is not None
        enrolment = mfa_enroll(user=user, key=saved if valid else None)
        device = enrolment.device
        result.append(DemoLogin(user, member, enrolment.recovery_codes, mfa_secret_text(device), str(device.key)))
    return result


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(data, handle, indent=2)


def _clinic() -> Clinic:
    clinic = Clinic.objects.filter(slug=DEMO_SLUG).first()
    if clinic is None:
        clinic = clinic_create(
            slug=DEMO_SLUG,
            name="Riverbend Recovery Center",
            display_name="Riverbend Health",
            time_zone="America/Chicago",
            phone="+1 312-555-0140",
        )
    return clinic


def _staff(clinic: Clinic, password: str) -> list[tuple[User, DemoStaff]]:
    result = []
    for member in STAFF:
        user, created = User.objects.get_or_create(
            username=member.username,
            defaults={
                "first_name": member.first_name,
                "last_name": member.last_name,
                "email": f"{member.username}@example.org",
                "is_staff": member.role == Role.ADMIN,
            },
        )
        if created or not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
        membership_grant(user=user, clinic=clinic, role=member.role)
        result.append((user, member))
    return result


class Story(enum.StrEnum):
    """What a demo patient's months in aftercare show (aftercare/demo/ writes the history to
    match). Most patients do well and raise no flag; a few tell one story each that the risk
    rules should catch, and a clinician reading the flag should recognise it."""

    STEADY = "steady"  # attends, takes their medication: never flagged
    COMPLETED = "completed"  # finished aftercare, seen for follow-up after discharge
    DROPPED_OUT = "dropped_out"  # stopped coming in the first weeks; discharged months ago
    ARCHIVED = "archived"
    STEPPED_DOWN = "stepped_down"  # from residential or withdrawal management, followed up
    CRAVING_RISING = "craving_rising"  # check-ins report craving rising, then sessions missed
    METHADONE_MISSED = "methadone_missed"  # three daily methadone doses missed
    FENTANYL_SCREEN = "fentanyl_screen"  # a buprenorphine patient's screen positive for fentanyl
    STEPPED_DOWN_LOST = "stepped_down_lost"  # out of withdrawal management, missed the first visit
    DRIFTING = "drifting"  # the last three weeks of therapy and group missed
    LOST = "lost"  # not seen for six weeks
    CALL_REQUEST = "call_request"  # a check-in asks for a call


@dataclass(frozen=True)
class Course:
    """Where a demo patient is in care: their story and its dates, in days before today."""

    story: Story
    intake_days_ago: int
    discharge_days_ago: int | None = None
    # The day (after intake) of the last session attended, for those who stopped coming.
    stopped_on_day: int | None = None


# The patients with a story to tell, by number (DEMO-0001 ...); everyone else is drawn at random.
FEATURED: dict[int, Course] = {
    1: Course(Story.CRAVING_RISING, 104),
    2: Course(Story.METHADONE_MISSED, 73),
    3: Course(Story.FENTANYL_SCREEN, 61),
    4: Course(Story.STEPPED_DOWN_LOST, 9),
    5: Course(Story.STEPPED_DOWN, 24),
    6: Course(Story.STEPPED_DOWN, 47),
    7: Course(Story.STEADY, 88),  # the naltrexone patient (aftercare/demo/people.py)
    8: Course(Story.DRIFTING, 62, stopped_on_day=40),
    9: Course(Story.LOST, 96, stopped_on_day=53),
    10: Course(Story.CALL_REQUEST, 58),
}


def course_of(number: int, rng: random.Random) -> Course:
    """A featured patient's course, or one drawn so that the caseload keeps a realistic retention
    curve: most people still in care; dropping out concentrated in the first 30-60 days (and then
    discharged after a month without contact, long enough ago to be outside every follow-up
    window); some finished and discharged; a few archived."""
    if number in FEATURED:
        return FEATURED[number]
    roll = rng.random()
    if roll < 0.16:
        stopped = rng.choice([14, 21, 28, 35, 42, 49, 56, 63, 84])
        intake = rng.randint(stopped + 30 + 100, 300)
        return Course(Story.DROPPED_OUT, intake, discharge_days_ago=intake - stopped - 30, stopped_on_day=stopped)
    if roll < 0.28:
        intake = rng.randint(100, 300)
        return Course(Story.COMPLETED, intake, discharge_days_ago=max(3, intake - rng.randint(90, 150)))
    if roll < 0.33:
        intake = rng.randint(200, 400)
        return Course(Story.ARCHIVED, intake, discharge_days_ago=intake - rng.randint(40, 150))
    return Course(Story.STEADY, rng.randint(10, 270))


def demo_courses() -> dict[str, Course]:
    """Every demo patient's course, by external id (the same at every load)."""
    rng = random.Random(20261203)
    return {f"DEMO-{number:04d}": course_of(number, rng) for number in range(1, PATIENT_COUNT + 1)}


_STATUS = {Story.COMPLETED: PatientStatus.DISCHARGED, Story.DROPPED_OUT: PatientStatus.DISCHARGED,
           Story.ARCHIVED: PatientStatus.ARCHIVED}  # fmt: skip


_CHECKING_IN = frozenset({Story.CRAVING_RISING, Story.CALL_REQUEST})


def _patients(clinic: Clinic, clinicians: list[User]) -> None:
    from faker import Faker  # a development dependency, like this whole module

    # Seeded: every run describes the same people, so upserts by external_id change nothing.
    fake = Faker(["en_US", "es_MX"])
    fake.seed_instance(20261121)
    rng = random.Random(20261121)
    today = timezone.localdate()
    courses = demo_courses()
    for number in range(1, PATIENT_COUNT + 1):
        external_id = f"DEMO-{number:04d}"
        course = courses[external_id]
        spanish = rng.random() < 0.25
        locale = fake["es_MX"] if spanish else fake["en_US"]
        given, family = locale.first_name(), locale.last_name()
        birth = today - datetime.timedelta(days=rng.randint(19 * 365, 68 * 365))
        discharge = course.discharge_days_ago
        patient_upsert(
            clinic=clinic,
            external_id=external_id,
            given_name=given,
            family_name=family,
            date_of_birth=birth,
            # Reserved domain and fictional 555-01xx numbers: the demo never reaches a real person.
            email=f"{slugify(given)}.{slugify(family)}.{number}@example.org",
            phone=f"+1 312-555-01{number % 100:02d}",
            preferred_language=Language.SPANISH if spanish else Language.ENGLISH,
            reminders_opt_in=rng.random() < 0.8,
            # Weekly check-ins for those who said yes (about a third), and for both whose story is told by them.
            checkins_opt_in=course.story in _CHECKING_IN or (course.story == Story.STEADY and rng.random() < 0.35),
            status=_STATUS.get(course.story, PatientStatus.ACTIVE),
            assigned_clinician=clinicians[number % len(clinicians)],
            intake_date=today - datetime.timedelta(days=course.intake_days_ago),
            discharge_date=None if discharge is None else today - datetime.timedelta(days=discharge),
        )


def _client(clinic: Clinic, saved: dict[str, Any]) -> tuple[str, str]:
    client = (
        IntegrationClient.objects.select_related("application").filter(clinic=clinic, name=DEMO_CLIENT_NAME).first()
    )
    if client is None:
        credentials = integration_client_create(clinic=clinic, name=DEMO_CLIENT_NAME, scopes=list(SCOPES))
        return credentials.client_id, credentials.client_secret
    application = client.application
    secret = saved.get("client_secret", "")
    if saved.get("client_id") == application.client_id and secret and check_password(secret, application.client_secret):
        return application.client_id, secret
    # The plain secret is gone (stored hashed): issue a new one.
    credentials = integration_client_rotate_secret(client=client)
    return credentials.client_id, credentials.client_secret
