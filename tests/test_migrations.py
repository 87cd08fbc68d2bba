"""Every model change comes with its migration (CI fails otherwise)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command


def test_no_model_change_is_missing_a_migration(db: None) -> None:
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exit_:
        if exit_.code:
            pytest.fail(f"makemigrations would create migrations:\n{out.getvalue()}")
    assert "No changes detected" in out.getvalue()


def test_a_bare_checkout_can_check_for_missing_migrations() -> None:
    """`manage.py makemigrations --check` with no secret, database, broker or mail configured, as a
    reviewer or another CI runs it."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    bare = {"PATH": os.environ["PATH"], "HOME": str(root)}
    result = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=root, env=bare, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "No changes detected" in result.stdout


@pytest.mark.django_db(transaction=True)
def test_the_consent_expiry_migration_keeps_the_last_whole_day_of_the_clinics_calendar() -> None:
    """clinic 0017: an expiry instant becomes the last day of the clinic's calendar the consent held
    throughout (never later than the instant signed for); back again, that day's next midnight."""
    import datetime
    import zoneinfo

    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.utils import timezone

    from clinic.auth.caller import Caller
    from clinic.models import Consent
    from clinic.services.consents import consent_record
    from tests.factories import ClinicFactory, PatientFactory, integration_client

    zone = zoneinfo.ZoneInfo("America/New_York")
    clinic = ClinicFactory.create(time_zone="America/New_York")
    by = Caller(clinic=clinic, scopes=frozenset(), client=integration_client(clinic, ["consents:write"]))
    patient = PatientFactory.create(clinic=clinic)

    def recorded(**expiry: Any) -> Consent:
        return consent_record(
            patient=patient,
            by=by,
            signed_on=timezone.localdate(timezone=zone),
            recipient_name="Court",
            purpose="Report",
            categories=["attendance"],
            **expiry,
        )

    kept, midnight, afternoon = (recorded(expires_on=datetime.date(2030, 6, 1)) for _ in range(3))
    by_event = recorded(expiry_event="End of probation")

    executor = MigrationExecutor(connection)
    node = executor.loader.graph.node_map[("clinic", "0017_consent_expires_on")]
    try:
        executor.migrate([parent.key for parent in node.parents if parent.key[0] == "clinic"])
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, expires_at FROM clinic_consent")
            restored = dict(cursor.fetchall())
            # Instants as the API took them before: the local midnight starting 2030-01-01, and 14:00 that day.
            cursor.execute("SET session_replication_role = replica")  # past the terms-unchanged trigger
            for consent, instant in (
                (midnight, datetime.datetime(2030, 1, 1, tzinfo=zone)),
                (afternoon, datetime.datetime(2030, 1, 1, 14, tzinfo=zone)),
            ):
                cursor.execute("UPDATE clinic_consent SET expires_at = %s WHERE id = %s", [instant, consent.pk])
            cursor.execute("SET session_replication_role = DEFAULT")
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert restored[kept.pk] == datetime.datetime(2030, 6, 2, tzinfo=zone)
    assert restored[by_event.pk] is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, expires_on FROM clinic_consent")
        converted = dict(cursor.fetchall())
    assert converted == {
        kept.pk: datetime.date(2030, 6, 1),  # there and back keeps the day
        midnight.pk: datetime.date(2029, 12, 31),  # expired as 2030-01-01 began: held through the day before
        afternoon.pk: datetime.date(2029, 12, 31),  # held on 2030-01-01 only until 14:00
        by_event.pk: None,
    }
    # The change history (append-only) is converted too: each recorded version holds its day.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pgh_obj_id, expires_on FROM clinic_consenthistory WHERE pgh_obj_id IN (%s, %s)",
            [kept.pk, by_event.pk],
        )
        assert dict(cursor.fetchall()) == {kept.pk: datetime.date(2030, 6, 1), by_event.pk: None}


@pytest.mark.django_db(transaction=True)
def test_the_access_log_partitioning_migration_keeps_every_event_and_the_append_only_rule() -> None:
    """clinic 0019: the plain table's events, years old and this month's, end up in month
    partitions (none in the default), and no partition lets an event be changed or deleted."""
    import datetime
    import uuid

    from django.db import connection, transaction
    from django.db.migrations.executor import MigrationExecutor
    from django.db.utils import DatabaseError

    from tests.clinic.access_rows import insert_events

    executor = MigrationExecutor(connection)
    try:
        executor.migrate([("clinic", "0018_staff_external_id")])
        clinic = uuid.uuid4()
        insert_events(clinic=clinic, count=500, start=datetime.datetime(2023, 1, 30, tzinfo=datetime.UTC))
        insert_events(
            clinic=clinic, count=500, start=datetime.datetime.now(tz=datetime.UTC) - datetime.timedelta(hours=1)
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, at, patient_ids FROM clinic_accessevent ORDER BY id")
            before = cursor.fetchall()
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, at, patient_ids FROM clinic_accessevent ORDER BY id")
        assert cursor.fetchall() == before
        cursor.execute("SELECT count(*) FROM clinic_accessevent_default")
        assert cursor.fetchone() == (0,)
        cursor.execute("SELECT count(*) FROM clinic_accessevent_y2023m01")
        assert cursor.fetchone() == (500,)  # one a second from 30 January 2023
    for table in ("clinic_accessevent", "clinic_accessevent_y2023m01"):
        for statement in (f'DELETE FROM "{table}"', f"UPDATE \"{table}\" SET path = '/'"):  # noqa: S608
            with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(statement)
