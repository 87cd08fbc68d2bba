"""The access log by month (clinic 0019, clinic/services/access_partitions.py): partitions made
ahead, a default partition so no event is ever refused, the append-only rule on every partition
(new ones too), and whole months past retention archived, verified and only then dropped."""

from __future__ import annotations

import datetime
import gzip
import io
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.utils import DatabaseError

from clinic.models import AccessEvent
from clinic.selectors.access import access_export_verify
from clinic.services.access_partitions import (
    DEFAULT,
    access_partitions,
    access_partitions_compact,
    access_partitions_ensure,
    access_partitions_expire,
    partition_name,
)
from tasks.maintenance import access_log_partitions
from tests.clinic.access_rows import insert_events

pytestmark = pytest.mark.django_db

UTC = datetime.UTC


def _rows(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608
        (count,) = cursor.fetchone()
    return int(count)


def _refused(statement: str) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    except DatabaseError:
        return True
    return False


def test_the_months_ahead_are_made_and_an_event_of_a_month_without_one_lands_in_the_default() -> None:
    now = datetime.datetime(2031, 5, 17, 12, tzinfo=UTC)
    made = access_partitions_ensure(now=now)
    assert made == ["clinic_accessevent_y2031m05", "clinic_accessevent_y2031m06", "clinic_accessevent_y2031m07"]
    assert access_partitions_ensure(now=now) == []  # idempotent

    # No partition for March 2030: the events are kept (in the default partition), never refused.
    clinic = uuid.uuid4()
    insert_events(
        clinic=clinic, count=300, start=datetime.datetime(2030, 3, 30, tzinfo=UTC), step=datetime.timedelta(hours=1)
    )
    insert_events(clinic=clinic, count=10, start=datetime.datetime(2031, 6, 2, tzinfo=UTC))
    assert _rows(DEFAULT) == 300
    assert _rows(partition_name(datetime.date(2031, 6, 1))) == 10

    # The next run makes those months and moves the events into them.
    assert access_partitions_ensure(now=now) == ["clinic_accessevent_y2030m03", "clinic_accessevent_y2030m04"]
    assert _rows(DEFAULT) == 0
    assert _rows("clinic_accessevent_y2030m03") + _rows("clinic_accessevent_y2030m04") == 300
    assert AccessEvent.objects.filter(clinic_id=clinic).count() == 310


def test_every_partition_refuses_updates_and_deletes_including_one_made_later_and_the_default() -> None:
    access_partitions_ensure(now=datetime.datetime(2032, 1, 10, tzinfo=UTC))
    new = partition_name(datetime.date(2032, 2, 1))
    insert_events(clinic=uuid.uuid4(), count=5, start=datetime.datetime(2032, 2, 3, tzinfo=UTC))
    insert_events(clinic=uuid.uuid4(), count=5, start=datetime.datetime(2001, 1, 1, tzinfo=UTC))  # the default
    for table in ("clinic_accessevent", new, DEFAULT):
        assert _refused(f"UPDATE \"{table}\" SET actor = 'user:00000000-0000-0000-0000-000000000000'"), table  # noqa: S608
        assert _refused(f'DELETE FROM "{table}"'), table  # noqa: S608
    assert _rows(new) == 5
    assert _rows(DEFAULT) == 5


def test_months_past_retention_are_archived_verified_then_dropped(tmp_path: Path) -> None:
    clinic = uuid.uuid4()
    insert_events(
        clinic=clinic, count=2000, start=datetime.datetime(2019, 3, 1, tzinfo=UTC), step=datetime.timedelta(minutes=5)
    )
    insert_events(clinic=clinic, count=100, start=datetime.datetime(2021, 1, 5, tzinfo=UTC))
    now = datetime.datetime(2027, 1, 15, tzinfo=UTC)  # 72 months back: January 2021 is kept
    access_partitions_ensure(now=now)
    assert "clinic_accessevent_y2019m03" in access_partitions().values()

    archived = access_partitions_expire(now=now, months=72, directory=tmp_path)

    assert [(a.partition, a.rows) for a in archived] == [("clinic_accessevent_y2019m03", 2000)]
    for item in archived:
        with gzip.open(item.path) as stream:
            assert access_export_verify(stream) == item.rows  # type: ignore[arg-type]
        assert item.path.stat().st_mode & 0o077 == 0  # readable by its owner only
    assert not {a.partition for a in archived} & set(access_partitions().values())
    assert AccessEvent.objects.filter(clinic_id=clinic).count() == 100  # January 2021 stays
    assert access_partitions_expire(now=now, months=72, directory=tmp_path) == []  # idempotent

    out = io.StringIO()
    call_command("verify_access_export", str(archived[0].path), stdout=out)
    assert f"Complete: {archived[0].rows} rows" in out.getvalue()


def test_a_month_whose_archive_cannot_be_written_stays_attached(tmp_path: Path) -> None:
    insert_events(clinic=uuid.uuid4(), count=50, start=datetime.datetime(2018, 6, 2, tzinfo=UTC))
    now = datetime.datetime(2027, 1, 15, tzinfo=UTC)
    access_partitions_ensure(now=now)
    blocked = tmp_path / "archive"
    blocked.write_text("a file where the directory should be")

    with pytest.raises(FileExistsError):
        access_partitions_expire(now=now, months=72, directory=blocked)

    assert "clinic_accessevent_y2018m06" in access_partitions().values()
    assert _rows("clinic_accessevent_y2018m06") == 50


def test_the_daily_task_makes_the_months_ahead(settings: pytest.FixtureRequest, tmp_path: Path) -> None:
    settings.AFTERCARE_ACCESS_LOG_ARCHIVE_DIR = tmp_path  # type: ignore[attr-defined]
    result = access_log_partitions()
    assert result["archived"] == 0
    assert len(access_partitions()) >= 3


def test_the_verifier_refuses_a_cut_or_altered_file(tmp_path: Path) -> None:
    insert_events(clinic=uuid.uuid4(), count=20, start=datetime.datetime(2018, 6, 2, tzinfo=UTC))
    now = datetime.datetime(2027, 1, 15, tzinfo=UTC)
    access_partitions_ensure(now=now)
    (archived,) = access_partitions_expire(now=now, months=72, directory=tmp_path)
    whole = gzip.decompress(archived.path.read_bytes())
    cut = tmp_path / "cut.csv"
    cut.write_bytes(whole[: len(whole) // 2])
    changed = tmp_path / "changed.csv"
    changed.write_bytes(whole.replace(b"GET", b"PUT", 1))
    for path in (cut, changed):
        with pytest.raises(CommandError):
            call_command("verify_access_export", str(path), stdout=io.StringIO())


def _index_bytes(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_indexes_size(%s::regclass)", [table])
        (size,) = cursor.fetchone()
    return int(size)


def test_a_closed_months_indexes_are_rebuilt_once(tmp_path: Path) -> None:
    now = datetime.datetime(2029, 3, 10, tzinfo=UTC)
    access_partitions_ensure(now=datetime.datetime(2029, 1, 10, tzinfo=UTC))
    insert_events(clinic=uuid.uuid4(), count=20_000, start=datetime.datetime(2029, 1, 1, tzinfo=UTC))
    grown = _index_bytes("clinic_accessevent_y2029m01")

    compacted = access_partitions_compact(now=now, limit=10)

    assert "clinic_accessevent_y2029m01" in compacted
    assert "clinic_accessevent_y2029m03" not in compacted  # this month still fills
    assert _index_bytes("clinic_accessevent_y2029m01") < grown * 0.9
    assert "clinic_accessevent_y2029m01" not in access_partitions_compact(now=now, limit=10)  # once
    assert _rows("clinic_accessevent_y2029m01") == 20_000
