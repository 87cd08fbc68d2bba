"""The access log at a hosted clinic's size: "who saw this patient" and "what did this actor do"
are answered from their indexes however large the log, and an export of a quarter of a million
events arrives whole, its trailer's count and checksum matching."""

from __future__ import annotations

import datetime
import io
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from clinic.models import AccessEvent, Clinic
from clinic.selectors.access import access_event_list, access_export_verify
from clinic.services.access_partitions import DEFAULT, access_partitions_ensure
from tests.clinic.access_rows import insert_events

# Events written, and how many times larger the planner is told the log is: 30 000 x 150 = 4.5 M,
# the size at which the rare-patient query was seen walking the clinic's whole history.
WRITTEN = 30_000
SCALE = 150


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _indexes(queryset: Any) -> set[str]:
    """The indexes the planner's chosen plan for `queryset` reads on the month partitions (the
    default partition is empty, and any plan of an empty table is as good as another)."""
    (explained,) = json.loads(queryset.explain(format="json"))
    names = {node["Index Name"] for node in _nodes(explained["Plan"]) if "Index Name" in node}
    return {name for name in names if not name.startswith(DEFAULT)}


@pytest.fixture
def large_log(clinic_a: Clinic) -> dict[str, Any]:
    """WRITTEN events of clinic A this month (patients from a pool of 200, so each is common, and
    one patient seen in 4 of them), analysed, then with the planner's row counts scaled by SCALE:
    the planner sees a log of millions of rows."""
    access_partitions_ensure()
    rare = uuid.uuid4()
    month = datetime.datetime.now(tz=datetime.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    insert_events(clinic=clinic_a, count=WRITTEN, start=month, patients=200, rare=rare, rare_every=WRITTEN // 4)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE clinic_accessevent")
        cursor.execute(
            "UPDATE pg_class SET reltuples = reltuples * %s"
            " WHERE relname LIKE 'clinic_accessevent\\_y%%' AND relkind = 'r' AND reltuples > 0",
            [SCALE],
        )
        cursor.execute("SELECT md5('user' || 3)::uuid")
        (staff,) = cursor.fetchone()
    return {"clinic": clinic_a, "rare": rare, "staff": staff}


def test_who_saw_a_rarely_seen_patient_is_answered_from_the_gin_index(large_log: dict[str, Any]) -> None:
    events = access_event_list(clinic=large_log["clinic"], patient_ids=[large_log["rare"]])
    used = _indexes(events[:51])
    assert any(name.endswith("_patient_ids_idx") for name in used), used
    assert not any(name.endswith("_clinic_id_at_idx") for name in used), used
    assert len(list(events[:51])) == 4
    # A page further on too, and several patients at once.
    older = events.filter(at__lt=datetime.datetime.now(tz=datetime.UTC))
    assert not any(name.endswith("_clinic_id_at_idx") for name in _indexes(older[:51]))
    several = access_event_list(clinic=large_log["clinic"], patient_ids=[large_log["rare"], uuid.uuid4()])
    assert not any(name.endswith("_clinic_id_at_idx") for name in _indexes(several[:51]))


def test_what_an_actor_did_is_answered_from_the_actor_index(large_log: dict[str, Any]) -> None:
    events = access_event_list(clinic=large_log["clinic"], actor=f"user:{large_log['staff']}")
    used = _indexes(events[:51])
    assert used, used
    assert all(name.endswith("_user_id_at_idx") for name in used), used
    assert len(list(events[:51])) == 51


def test_the_unfiltered_log_is_still_read_newest_first_from_the_clinic_index(large_log: dict[str, Any]) -> None:
    used = _indexes(access_event_list(clinic=large_log["clinic"])[:51])
    assert used, used
    assert all(name.endswith("_clinic_id_at_idx") for name in used), used


def test_an_export_of_250_000_events_arrives_whole(clinic_a: Clinic, make_client: Any) -> None:
    access_partitions_ensure()
    month = datetime.datetime.now(tz=datetime.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    insert_events(clinic=clinic_a, count=250_000, start=month, step=datetime.timedelta(seconds=2), per_list=3)
    auditor = make_client(clinic_a, scopes=["audit:read"])

    began = time.perf_counter()
    response = auditor.api.get("/api/v1/access-events/export/")
    body = b"".join(response.streaming_content)
    seconds = time.perf_counter() - began

    assert response.status_code == 200
    # Every event, the export's own included (written before the rows are read).
    assert AccessEvent.objects.filter(clinic=clinic_a).count() == 250_001
    assert access_export_verify(io.BytesIO(body)) == 250_001
    assert body.splitlines()[-1].startswith(b"# rows=250001 sha256=")
    print(f"exported 250 001 events ({len(body) / 1e6:.0f} MB) in {seconds:.1f} s")
