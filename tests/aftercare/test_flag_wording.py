"""A flag's reason in words, in the clinic's time zone."""

from __future__ import annotations

import zoneinfo

from aftercare.risk.wording import flag_reason

CHICAGO = zoneinfo.ZoneInfo("America/Chicago")


def test_consecutive_missed_names_the_local_days() -> None:
    evidence = [
        # 02:30 UTC on the 25th is still the 24th in Chicago.
        {"type": "appointment", "id": "a", "starts_at": "2026-11-25T02:30:00+00:00", "status": "missed"},
        {"type": "appointment", "id": "b", "starts_at": "2026-11-30T18:00:00+00:00", "status": "late_cancelled"},
    ]
    assert flag_reason("consecutive_missed", evidence, CHICAGO) == "Missed 2 in a row: Tue 24 Nov, Mon 30 Nov"


def test_no_contact_and_post_discharge_say_what_is_missing() -> None:
    assert flag_reason("no_contact", [], CHICAGO) == "No attended session on record"
    attended = [{"type": "appointment", "id": "a", "starts_at": "2026-11-02T15:00:00+00:00", "status": "attended"}]
    assert flag_reason("no_contact", attended, CHICAGO) == "No attended session since Mon 2 Nov"
    assert flag_reason("post_discharge_gap", [], CHICAGO) == "No attended session since discharge"
