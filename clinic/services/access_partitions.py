"""The access log's months (clinic 0019 partitions `clinic_accessevent` by month on `at`).

`access_partitions_ensure` makes the partitions of this month and the next two ahead of need. A
default partition takes any event whose month has none, so an insert never fails and never waits on
DDL; if it ever holds rows (the beat stopped for months), their month is made and the rows moved
into it. `access_partitions_expire` archives each whole month older than the retention period to a
gzip CSV, reads the archive back and counts it, and only then detaches and drops the month: never a
row deleted one by one, and a month whose archive fails stays attached. `access_partitions_compact`
rebuilds a closed month's indexes once. All are idempotent: the maintenance task runs them daily
(tasks/maintenance.py).

DDL on the log asks for its locks with a short `lock_timeout`: an export can read the table for
minutes, and DDL queued behind it would queue every request's INSERT behind itself. Giving up and
trying again at the next run costs nothing, with two months of partitions made ahead.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pgtrigger
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from clinic.selectors.access import ExportIncomplete, access_export_verify, trailer

logger = logging.getLogger(__name__)

PARENT = "clinic_accessevent"
DEFAULT = "clinic_accessevent_default"
MONTHS_AHEAD = 2
LOCK_TIMEOUT = "2s"
_NAME = re.compile(r"clinic_accessevent_y([0-9]{4})m([0-9]{2})")
# The append-only trigger, which moving rows out of the default partition must pass.
_APPEND_ONLY = "clinic.AccessEvent:access_log_append_only"


class ArchiveFailed(RuntimeError):
    """A month's archive could not be written or did not read back whole; the month stays attached."""


def month_of(moment: datetime.date | datetime.datetime) -> datetime.date:
    if isinstance(moment, datetime.datetime):
        moment = moment.astimezone(datetime.UTC).date()
    return moment.replace(day=1)


def add_months(month: datetime.date, count: int) -> datetime.date:
    index = month.year * 12 + month.month - 1 + count
    return datetime.date(index // 12, index % 12 + 1, 1)


def partition_name(month: datetime.date) -> str:
    return f"{PARENT}_y{month:%Y}m{month:%m}"


def _bound(month: datetime.date) -> str:
    return f"{month:%Y-%m-%d} 00:00:00+00"


def access_partitions() -> dict[datetime.date, str]:
    """The month partitions attached to the log, by month (the default partition is not one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = %s::regclass",
            [PARENT],
        )
        names = [name for (name,) in cursor.fetchall()]
    months = {}
    for name in names:
        if found := _NAME.fullmatch(name):
            months[datetime.date(int(found[1]), int(found[2]), 1)] = name
    return months


def access_partitions_ensure(*, now: datetime.datetime | None = None) -> list[str]:
    """Makes this month's partition and the next MONTHS_AHEAD months', and one for every month the
    default partition holds events of (moving them into it). Returns the partitions made."""
    this_month = month_of(now or timezone.now())
    wanted = {add_months(this_month, ahead) for ahead in range(MONTHS_AHEAD + 1)}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT date_trunc('month', at AT TIME ZONE 'UTC')::date FROM {DEFAULT}")  # noqa: S608
        wanted |= {month for (month,) in cursor.fetchall()}
    existing = access_partitions()
    made = []
    for month in sorted(wanted - set(existing)):
        _make(month)
        made.append(partition_name(month))
        logger.info("access_partitions_ensure: made %s", partition_name(month))
    return made


def _make(month: datetime.date) -> None:
    """A new table filled with the default partition's rows of its month (usually none), then
    attached: ATTACH takes a lock on the log that neither reads nor inserts wait for, where CREATE
    TABLE … PARTITION OF would take one that stops both. The partition takes the log's indexes and
    its append-only trigger as it is attached."""
    name, start, end = partition_name(month), _bound(month), _bound(add_months(month, 1))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        cursor.execute(f'CREATE TABLE "{name}" (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)')
        in_month = f"FROM {DEFAULT} WHERE at >= %s AND at < %s"
        cursor.execute(f'INSERT INTO "{name}" SELECT * {in_month}', [start, end])
        if cursor.rowcount:
            with pgtrigger.ignore(_APPEND_ONLY):
                cursor.execute(f"DELETE {in_month}", [start, end])
        cursor.execute(f"ALTER TABLE {PARENT} ATTACH PARTITION \"{name}\" FOR VALUES FROM ('{start}') TO ('{end}')")


# --- compacting a closed month ----------------------------------------------------------------------
#
# While a month fills, its indexes grow by page splits among interleaved keys (one patient's or one
# user's events arrive between everyone else's) and GIN merges its pending list in bursts; the pages
# stay partly empty: 255 bytes of index an event. Once the month is over nothing is added to it, so
# its indexes are rebuilt once, full (188 bytes an event), without blocking reads (CONCURRENTLY), and
# the table is marked so a later run leaves it alone.

COMPACTED = "aftercare: indexes rebuilt after the month closed"
COMPACT_PER_RUN = 2


def access_partitions_compact(*, now: datetime.datetime | None = None, limit: int = COMPACT_PER_RUN) -> list[str]:
    """Rebuilds the indexes of up to `limit` closed months not yet rebuilt, the latest first."""
    this_month = month_of(now or timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = %s::regclass AND obj_description(c.oid, 'pg_class') IS DISTINCT FROM %s",
            [PARENT, COMPACTED],
        )
        pending = {name for (name,) in cursor.fetchall()}
    closed = sorted(
        ((month, name) for month, name in access_partitions().items() if name in pending and month < this_month),
        reverse=True,
    )[:limit]
    done = []
    for _month, name in closed:
        # CONCURRENTLY cannot run inside a transaction (a caller's, or a test's).
        how = "" if connection.in_atomic_block else " CONCURRENTLY"
        with connection.cursor() as cursor:
            cursor.execute(f'REINDEX TABLE{how} "{name}"')
            cursor.execute(f"COMMENT ON TABLE \"{name}\" IS '{COMPACTED}'")
        logger.info("access_partitions_compact: rebuilt the indexes of %s", name)
        done.append(name)
    return done


# --- retention ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Archived:
    partition: str
    path: Path
    rows: int


def access_partitions_expire(
    *, now: datetime.datetime | None = None, months: int | None = None, directory: Path | None = None
) -> list[Archived]:
    """Archives, then drops, every month partition that ended more than `months` months (default
    AFTERCARE_ACCESS_LOG_RETENTION_MONTHS) before this month began. A month whose archive fails is
    left attached, the error logged, and the others still go; the first failure is raised after."""
    months = months if months is not None else settings.AFTERCARE_ACCESS_LOG_RETENTION_MONTHS
    directory = directory if directory is not None else Path(settings.AFTERCARE_ACCESS_LOG_ARCHIVE_DIR)
    oldest_kept = add_months(month_of(now or timezone.now()), -months)
    done: list[Archived] = []
    failure: Exception | None = None
    for month, name in sorted(access_partitions().items()):
        if month >= oldest_kept:
            break
        try:
            done.append(_expire(name, directory))
        except Exception as error:  # one month's failure must not keep the others
            logger.error("access_partitions_expire: %s stays attached: %s", name, type(error).__name__)
            failure = failure or error
    if failure is not None:
        raise failure
    return done


def _expire(name: str, directory: Path) -> Archived:
    path = _archive(name, directory)
    with path.open("rb") as raw, gzip.open(raw) as stream:
        try:
            archived = access_export_verify(stream)  # type: ignore[arg-type]
        except ExportIncomplete as error:
            raise ArchiveFailed(f"The archive of {name} does not read back whole: {error}") from error
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        cursor.execute(f'ALTER TABLE {PARENT} DETACH PARTITION "{name}"')
        cursor.execute(f'SELECT count(*) FROM "{name}"')  # noqa: S608
        (rows,) = cursor.fetchone()
        if rows != archived:
            # Rolled back: the partition is attached again.
            raise ArchiveFailed(f"The archive of {name} holds {archived} rows; the month holds {rows}.")
        cursor.execute(f'DROP TABLE "{name}"')
    logger.info("access_partitions_expire: archived %d events of %s and dropped it", rows, name)
    return Archived(partition=name, path=path, rows=rows)


def _archive(name: str, directory: Path) -> Path:
    """The month as gzip CSV (every column, oldest first, the export's trailer last), written to a
    temporary name, flushed to the disk, then renamed: a file under the final name is whole. The
    count and the rows are read in one snapshot."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{name}.csv.gz"
    partial = directory / f".{name}.csv.gz.partial"
    digest = hashlib.sha256()
    outermost = not connection.in_atomic_block  # inside a caller's transaction, its snapshot holds
    with transaction.atomic(), connection.cursor() as cursor:
        if outermost:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute(f'SELECT count(*) FROM "{name}"')  # noqa: S608
        (rows,) = cursor.fetchone()
        copy_sql = f'COPY (SELECT * FROM "{name}" ORDER BY at, id) TO STDOUT WITH (FORMAT csv, HEADER true)'  # noqa: S608
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb") as out, cursor.cursor.copy(copy_sql) as copy:
                for data in copy:
                    digest.update(data)
                    out.write(data)
                out.write(trailer(rows, digest).encode())
            raw.flush()
            os.fsync(raw.fileno())
    os.replace(partial, path)
    return path
