"""factory-boy factories for the organisation. Names come from Faker: fictional people only."""

from __future__ import annotations

import datetime
import secrets
from typing import Any, cast

import factory
from django.utils import timezone
from oauth2_provider.models import AccessToken, set_token_value

from aftercare.checkins.links import opt_out_token
from aftercare.reminders.unsubscribe import unsubscribe_token
from clinic.models import Clinic, IntegrationClient, Patient, Role, StaffMembership, User
from clinic.services.integration import integration_client_create
from tests.phi import remember


class ClinicFactory(factory.django.DjangoModelFactory[Clinic]):
    class Meta:
        model = Clinic

    slug = factory.Sequence(lambda n: f"clinic-{n}")
    name = factory.Sequence(lambda n: f"Lakeside Recovery {n}")
    display_name = factory.Sequence(lambda n: f"Lakeside Health {n}")
    time_zone = "America/Chicago"
    phone = "+1 312-555-0100"


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"staff{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.org")
    password = factory.django.Password("correct horse battery staple")


class MembershipFactory(factory.django.DjangoModelFactory[StaffMembership]):
    class Meta:
        model = StaffMembership

    user = factory.SubFactory(UserFactory)
    clinic = factory.SubFactory(ClinicFactory)
    role = Role.CLINICIAN


class PatientFactory(factory.django.DjangoModelFactory[Patient]):
    class Meta:
        model = Patient
        skip_postgeneration_save = True  # the hook below only reads the patient

    clinic = factory.SubFactory(ClinicFactory)
    external_id = factory.Sequence(lambda n: f"MRN-{n:06d}")
    given_name = factory.Faker("first_name")
    family_name = factory.Faker("last_name")
    date_of_birth = factory.Faker("date_of_birth", minimum_age=18, maximum_age=80)
    email = factory.Sequence(lambda n: f"patient{n}@example.org")
    phone = "+1 312-555-0199"
    reminders_opt_in = True
    intake_date = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=40))

    @factory.post_generation
    def _phi(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        # What no log line of the suite may carry (checked at the end of the run).
        patient = cast(Patient, self)  # factory-boy calls the hook on the object it made
        remember(
            f"{patient.given_name} {patient.family_name}",
            str(patient.email),
            f"{patient.date_of_birth:%Y-%m-%d}",
            patient.external_id or "",
            unsubscribe_token(patient.pk) if patient.pk else "",
            opt_out_token(patient.pk) if patient.pk else "",
        )


def integration_client(
    clinic: Clinic, scopes: list[str] | tuple[str, ...], name: str | None = None
) -> IntegrationClient:
    credentials = integration_client_create(
        clinic=clinic, name=name or f"EHR {secrets.token_hex(4)}", scopes=list(scopes)
    )
    return credentials.client


def access_token(client: IntegrationClient, scopes: list[str] | tuple[str, ...] | None = None, **overrides: Any) -> str:
    """A bearer token as /o/token/ would issue it (the token endpoint itself is tested separately)."""
    value = secrets.token_urlsafe(30)
    token = AccessToken(
        application=client.application,
        scope=" ".join(client.scopes if scopes is None else scopes),
        expires=overrides.pop("expires", timezone.now() + datetime.timedelta(hours=1)),
        **overrides,
    )
    set_token_value(token, value)  # stored as the toolkit stores it: hashed, never in plain text
    token.save()
    return value


def verified_login(client: Any, user: User) -> None:
    """Signed in as a staff member is after password and authenticator code (django-otp)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user).first() or TOTPDevice.objects.create(
        user=user, name="authenticator", confirmed=True
    )
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
