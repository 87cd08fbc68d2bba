"""Dashboard tests: staff signed in through a session that passed password and second factor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from clinic.models import Clinic, Role, User
from tests.factories import MembershipFactory, verified_login


@pytest.fixture
def staff_client(db: None) -> Callable[..., tuple[Client, User]]:
    """`staff_client(clinic, role)`: a browser-like client signed in as a new member of `clinic`."""

    def make(clinic: Clinic, role: str = Role.CLINICIAN, **user_fields: Any) -> tuple[Client, User]:
        membership = MembershipFactory.create(clinic=clinic, role=role, user__is_staff=False, **user_fields)
        client = Client()
        verified_login(client, membership.user)
        return client, membership.user

    return make
