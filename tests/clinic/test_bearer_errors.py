"""RFC 6750 §3.1: a bearer token that is not (or no longer) good answers `invalid_token`; a request
without any credentials answers `not_authenticated`. Both are 401 in the one error shape."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from clinic.models import IntegrationClient
from tests.conftest import Persona
from tests.factories import access_token

LIST = "/api/v1/patients/"


def bearer(token: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def assert_invalid_token(response: Any) -> None:
    assert response.status_code == 401
    assert response.json() == {
        "type": "client_error",
        "errors": [{"code": "invalid_token", "detail": response.json()["errors"][0]["detail"], "attr": None}],
    }
    assert "credentials were not provided" not in response.json()["errors"][0]["detail"]
    challenge = response["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge


def test_an_unknown_bearer_token_is_an_invalid_token(db: None) -> None:
    assert_invalid_token(bearer("not-a-token").get(LIST))


def test_an_expired_bearer_token_is_an_invalid_token(ehr_a: Persona) -> None:
    assert ehr_a.client is not None
    token = access_token(ehr_a.client, expires=timezone.now() - datetime.timedelta(seconds=1))
    assert_invalid_token(bearer(token).get(LIST))


def test_a_token_of_a_deactivated_client_is_an_invalid_token(ehr_a: Persona) -> None:
    assert ehr_a.client is not None
    token = access_token(ehr_a.client)
    IntegrationClient.objects.filter(pk=ehr_a.client.pk).update(is_active=False)
    assert_invalid_token(bearer(token).get(LIST))


@pytest.mark.parametrize("method", ["get", "post", "patch", "put"])
def test_a_bad_token_is_an_invalid_token_whatever_the_method(db: None, method: str) -> None:
    assert_invalid_token(getattr(bearer("revoked-or-made-up"), method)(LIST, {}, format="json"))


@pytest.mark.parametrize("authorization", [None, "Basic dXNlcjpwYXNz"])
def test_a_request_without_a_bearer_token_is_not_authenticated(db: None, authorization: str | None) -> None:
    api = APIClient()
    if authorization:
        api.credentials(HTTP_AUTHORIZATION=authorization)
    response = api.get(LIST)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer ")
    assert "invalid_token" not in response["WWW-Authenticate"]
