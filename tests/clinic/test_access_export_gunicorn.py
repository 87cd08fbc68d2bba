"""An export that takes longer than gunicorn's worker timeout, through a real gunicorn started as
the image starts it (with a timeout of 2 s instead of 30): it arrives whole, because the export tells
the arbiter it is making progress (clinic/heartbeat.py). Before, the worker was killed part-way and
the client kept a truncated file that had been answered 200."""

from __future__ import annotations

import datetime
import http.client
import io
import time
from pathlib import Path
from typing import Any

from clinic.selectors.access import access_export_verify
from clinic.services.access_partitions import access_partitions_ensure
from tests.clinic.access_rows import insert_events
from tests.clinic.test_gunicorn_access_log import image_gunicorn
from tests.factories import access_token, integration_client

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 2
EVENTS = 100_000


def test_an_export_longer_than_the_worker_timeout_arrives_whole(
    transactional_db: None, clinic_a: Any, tmp_path: Path
) -> None:
    access_partitions_ensure()
    month = datetime.datetime.now(tz=datetime.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    insert_events(clinic=clinic_a, count=EVENTS, start=month, step=datetime.timedelta(seconds=5), per_list=50)
    bearer = {"Authorization": f"Bearer {access_token(integration_client(clinic_a, ['audit:read']))}"}

    with image_gunicorn(tmp_path, "--timeout", str(TIMEOUT)) as (port, _, _, _):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        began = time.monotonic()
        conn.request("GET", "/api/v1/access-events/export/", headers=bearer)
        response = conn.getresponse()
        assert response.status == 200
        try:
            body = response.read()
        except http.client.IncompleteRead as cut:
            body = cut.partial
        seconds = time.monotonic() - began
        conn.close()
    errors = (tmp_path / "stderr.log").read_text()
    assert seconds > TIMEOUT, f"the export took {seconds:.1f} s: not long enough to prove anything"
    assert "WORKER TIMEOUT" not in errors, errors[-2000:]
    assert access_export_verify(io.BytesIO(body)) == EVENTS + 1  # the export's own event too
