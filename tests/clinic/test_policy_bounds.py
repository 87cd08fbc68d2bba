"""A clinic's policy values stay within bounds wherever they are written: model validation names
the field, and the database refuses a value written around the model."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test import Client

from clinic.models import Clinic, Role
from tests.factories import ClinicFactory, MembershipFactory, UserFactory, verified_login


def _raw_update(clinic: Clinic, sql: str, *params: Any) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE clinic_clinic SET {sql} WHERE id = %s", [*params, clinic.pk])  # noqa: S608


@pytest.mark.parametrize(
    "offsets",
    [[2147483647], [0], [43201], [120, 120], [1, 2, 3, 4, 5, 6, 7], []],
)
def test_out_of_range_reminder_offsets_are_refused_naming_the_field(db: None, offsets: list[int]) -> None:
    clinic = ClinicFactory.create()
    clinic.reminder_offsets_minutes = offsets
    with pytest.raises(ValidationError) as refused:
        clinic.full_clean()
    assert set(refused.value.message_dict) == {"reminder_offsets_minutes"}


def test_offsets_at_the_bounds_are_accepted(db: None) -> None:
    clinic = ClinicFactory.create()
    clinic.reminder_offsets_minutes = [43200, 43199, 1440, 120, 2, 1]
    clinic.full_clean()
    clinic.save()


@pytest.mark.parametrize(
    "value",
    ["'{2147483647}'", "'{0}'", "'{43201}'", "'{120,120}'", "'{1,2,3,4,5,6,7}'", "'{}'", "'{120,NULL}'",
     "'{{1,2},{3,4}}'", "'[0:1]={5,6}'"],
)  # fmt: skip
def test_the_database_refuses_out_of_range_reminder_offsets(db: None, value: str) -> None:
    clinic = ClinicFactory.create()
    with pytest.raises(IntegrityError, match="clinic_reminder_offsets_in_bounds"):
        _raw_update(clinic, f"reminder_offsets_minutes = {value}")


def test_the_database_accepts_offsets_at_the_bounds(db: None) -> None:
    clinic = ClinicFactory.create()
    _raw_update(clinic, "reminder_offsets_minutes = '{43200,43199,1440,120,2,1}'")


@pytest.mark.parametrize(
    ("start", "end", "allowed"),
    [
        (datetime.time(21), datetime.time(8), True),
        (datetime.time(0), datetime.time(0), True),  # no quiet hours
        (datetime.time(18), datetime.time(10), True),  # 16 hours
        (datetime.time(17, 59), datetime.time(10), False),
        (datetime.time(8, 1), datetime.time(8), False),  # 23 h 59 min
        (datetime.time(1), datetime.time(17), True),
        (datetime.time(1), datetime.time(17, 1), False),
    ],
)
def test_quiet_hours_last_at_most_16_hours(db: None, start: datetime.time, end: datetime.time, allowed: bool) -> None:
    clinic = ClinicFactory.create()
    clinic.quiet_hours_start, clinic.quiet_hours_end = start, end
    if allowed:
        clinic.full_clean()
        _raw_update(clinic, "quiet_hours_start = %s, quiet_hours_end = %s", start, end)
        return
    with pytest.raises(ValidationError) as refused:
        clinic.full_clean()
    assert set(refused.value.message_dict) == {"quiet_hours_end"}
    with pytest.raises(IntegrityError, match="clinic_quiet_hours_at_most_16_hours"):
        _raw_update(clinic, "quiet_hours_start = %s, quiet_hours_end = %s", start, end)


@pytest.mark.parametrize("field", ["name", "display_name", "reminder_sender_name"])
def test_names_that_reach_email_headers_are_one_line(db: None, field: str) -> None:
    clinic = ClinicFactory.create()
    setattr(clinic, field, "Lakeside\r\nBcc: someone@example.org")
    with pytest.raises(ValidationError) as refused:
        clinic.full_clean()
    assert field in refused.value.message_dict
    with pytest.raises(IntegrityError, match="clinic_names_single_line"):
        _raw_update(clinic, f"{field} = %s", "Lakeside\nHealth")


def test_validating_a_clinic_checks_the_database_constraints_without_a_database_error(
    db: None, caplog: pytest.LogCaptureFixture
) -> None:
    clinic = ClinicFactory.create()
    clinic.full_clean()
    assert not [record for record in caplog.records if "database error" in record.getMessage()]


def test_the_migration_brings_rows_written_before_the_bounds_into_them(db: None) -> None:
    """A deployed database may hold values the checks refuse: the migration repairs them first, so
    the checks can be added."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("clinic.migrations.0010_policy_bounds")
    names = ["clinic_reminder_offsets_in_bounds", "clinic_quiet_hours_at_most_16_hours", "clinic_names_single_line"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = ANY(%s)", [names])
        definitions = dict(cursor.fetchall())
        assert set(definitions) == set(names)
        for name in names:
            cursor.execute(f"ALTER TABLE clinic_clinic DROP CONSTRAINT {name}")
    huge = ClinicFactory.create()
    _raw_update(huge, "reminder_offsets_minutes = '{2147483647,0,120,120,NULL,5,6,7,8,9}'")
    empty = ClinicFactory.create()
    _raw_update(empty, "reminder_offsets_minutes = '{}', quiet_hours_start = '08:01', quiet_hours_end = '08:00'")
    _raw_update(empty, "reminder_sender_name = %s", "Lakeside\r\nHealth")
    fine = ClinicFactory.create(reminder_offsets_minutes=[60])

    migration.bring_policies_into_bounds(apps, None)

    with connection.cursor() as cursor:
        for name, definition in definitions.items():
            cursor.execute(f"ALTER TABLE clinic_clinic ADD CONSTRAINT {name} {definition}")  # validates every row
    huge.refresh_from_db()
    empty.refresh_from_db()
    fine.refresh_from_db()
    assert huge.reminder_offsets_minutes == [43200, 1, 120, 5, 6, 7]
    assert empty.reminder_offsets_minutes == [2880, 120]
    assert (empty.quiet_hours_start, empty.quiet_hours_end) == (datetime.time(21), datetime.time(8))
    assert empty.reminder_sender_name == "Lakeside Health"
    assert fine.reminder_offsets_minutes == [60]


def _clinic_form(clinic: Clinic, **changes: str) -> dict[str, str]:
    return {
        "slug": clinic.slug, "name": clinic.name, "display_name": clinic.display_name, "time_zone": clinic.time_zone,
        "phone": clinic.phone, "is_active": "on", "reminder_offsets_minutes": "2880,120",
        "quiet_hours_start": "21:00", "quiet_hours_end": "08:00", "reminder_sender_name": "",
        "checkin_opens_minutes": "60", "missed_session_grace_minutes": "120", **changes,
    }  # fmt: skip


@pytest.fixture
def clinic_admin(clinic_a: Clinic) -> Client:
    user = UserFactory.create(is_staff=True)
    MembershipFactory.create(user=user, clinic=clinic_a, role=Role.ADMIN)
    browser = Client()
    verified_login(browser, user)
    return browser


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"reminder_offsets_minutes": "2147483647"}, "reminder_offsets_minutes"),
        ({"reminder_offsets_minutes": "2880,2880"}, "reminder_offsets_minutes"),
        ({"reminder_offsets_minutes": "0"}, "reminder_offsets_minutes"),
        ({"quiet_hours_start": "08:01", "quiet_hours_end": "08:00"}, "quiet_hours_end"),
        ({"checkin_opens_minutes": "481"}, "checkin_opens_minutes"),
        ({"missed_session_grace_minutes": "4321"}, "missed_session_grace_minutes"),
    ],
)
def test_the_admin_refuses_a_policy_out_of_bounds_naming_the_field(
    clinic_admin: Client, clinic_a: Clinic, changes: dict[str, str], field: str
) -> None:
    url = f"/admin/clinic/clinic/{clinic_a.pk}/change/"
    assert clinic_admin.get(url).status_code == 200
    response = clinic_admin.post(url, _clinic_form(clinic_a, **changes))
    assert response.status_code == 200  # the form again, with the error
    assert set(response.context["adminform"].form.errors) == {field}
    clinic_a.refresh_from_db()
    assert clinic_a.reminder_offsets_minutes == [2880, 120]
    assert clinic_a.quiet_hours_start == datetime.time(21)


def test_the_admin_saves_a_policy_at_its_bounds(clinic_admin: Client, clinic_a: Clinic) -> None:
    url = f"/admin/clinic/clinic/{clinic_a.pk}/change/"
    form = _clinic_form(
        clinic_a, reminder_offsets_minutes="43200,43199,10080,1440,120,1", quiet_hours_start="18:00",
        quiet_hours_end="10:00", missed_session_grace_minutes="4320",
    )  # fmt: skip
    response = clinic_admin.post(url, form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    clinic_a.refresh_from_db()
    assert clinic_a.reminder_offsets_minutes == [43200, 43199, 10080, 1440, 120, 1]
    assert clinic_a.missed_session_grace_minutes == 72 * 60
