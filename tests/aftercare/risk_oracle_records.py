"""The rules that read records (medication events, check-ins, drug screens, care transitions), read
literally in Python from DESIGN.md and the rules' own words, independently of the SQL: the other
half of the generated-population test in test_risk_engine.py. The clinic's zone is UTC."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from aftercare.models import CareTransition, CheckIn, CheckInResponse, DrugScreen, DrugScreenResult, MedicationEvent

UTC = datetime.UTC
HIGH_INTENSITY = {"withdrawal_management", "residential", "inpatient"}
LEVELS = ["withdrawal_management", "residential", "inpatient", "intensive_outpatient", "outpatient"]
ANALYTES = ["opioids", "fentanyl", "methadone", "buprenorphine", "cocaine"]


@dataclass(frozen=True)
class Records:
    medication: str | None  # the medication the active plan lists, if any
    doses: tuple[tuple[int, str, int, bool], ...]  # (days ago, kind, days covered, entered in error)
    answers: tuple[tuple[int, int, int, int, bool], ...]  # (hours ago, use days, craving, confidence, wants call)
    unanswered: tuple[int, ...]  # days ago each expired
    transitions: tuple[tuple[int, str, str], ...]  # (days ago, direction, level of care)
    screens: tuple[tuple[int, tuple[tuple[str, str, bool], ...], bool], ...]  # (days ago, results, in error)


records = st.builds(
    Records,
    medication=st.none() | st.sampled_from(["methadone", "buprenorphine", "naltrexone"]),
    doses=st.lists(
        st.tuples(
            st.integers(0, 45),
            st.sampled_from(["dose_observed", "take_home_dispensed", "dose_missed", "injection_given"]),
            st.integers(1, 10),
            st.sampled_from([False, False, False, True]),
        ),
        max_size=4,
        unique_by=lambda d: (d[0], d[1]),
    ).map(tuple),
    answers=st.lists(
        st.tuples(st.integers(1, 24 * 20), st.integers(0, 7), st.integers(0, 4), st.integers(0, 4), st.booleans()),
        max_size=3,
        unique_by=lambda a: a[0],
    ).map(tuple),
    unanswered=st.lists(st.integers(0, 30), max_size=3, unique=True).map(tuple),
    transitions=st.lists(
        st.tuples(st.integers(0, 100), st.sampled_from(["entered_aftercare", "discharged"]), st.sampled_from(LEVELS)),
        max_size=2,
    ).map(tuple),
    screens=st.lists(
        st.tuples(
            st.integers(0, 40),
            st.lists(
                st.tuples(
                    st.sampled_from(ANALYTES), st.sampled_from(["positive", "negative", "invalid"]), st.booleans()
                ),
                min_size=1,
                max_size=3,
                unique_by=lambda r: r[0],
            ).map(tuple),
            st.sampled_from([False, False, False, True]),
        ),
        max_size=2,
    ).map(tuple),
)


def _error(now: datetime.datetime) -> dict[str, Any]:
    return {
        "entered_in_error": True,
        "entered_in_error_reason": "Recorded for the wrong patient.",
        "entered_in_error_at": now,
    }


@dataclass
class Built:
    """The rows made, as the rules read them (ids as text)."""

    doses: list[tuple[str, datetime.date, str, int | None, bool]]  # (id, day, kind, days covered, in error)
    answers: list[tuple[str, datetime.datetime, int, int, int, bool]]
    unanswered: list[tuple[str, datetime.datetime]]
    transitions: list[tuple[str, datetime.date, str, str]]
    screens: list[tuple[str, datetime.date, list[tuple[str, str, bool]], bool]]


def build_records(patient: Any, plan: Any, rec: Records, *, now: datetime.datetime, by: Any) -> Built:
    today = now.date()
    built = Built([], [], [], [], [])
    medication = rec.medication or "methadone"
    for days_ago, kind, covered, error in rec.doses:
        if kind == "injection_given" and medication != "naltrexone":
            kind = "dose_observed"
        if any(d[1] == today - datetime.timedelta(days=days_ago) and d[2] == kind for d in built.doses):
            continue  # one event of a kind a day
        days_covered = covered if kind == "take_home_dispensed" else None
        event = MedicationEvent.objects.create(
            clinic=patient.clinic, patient=patient, medication=medication, kind=kind,
            occurred_on=today - datetime.timedelta(days=days_ago), days_covered=days_covered, recorded_by=by,
            **(_error(now) if error else {}),
        )  # fmt: skip
        built.doses.append((str(event.pk), event.occurred_on, kind, days_covered, error))
    if plan is not None:
        for index, (hours_ago, use, craving, confidence, call) in enumerate(rec.answers):
            at = now - datetime.timedelta(hours=hours_ago)
            checkin = CheckIn.objects.create(
                clinic=patient.clinic, patient=patient, plan=plan, due_on=today - datetime.timedelta(days=300 + index),
                send_at=at, sent_at=at, expires_at=at + datetime.timedelta(hours=72), answered_at=at, status="answered",
            )  # fmt: skip
            CheckInResponse.objects.create(
                checkin=checkin, clinic=patient.clinic, patient=patient, instrument="bam-adapted-1", answered_at=at,
                use_days=use, craving=craving, sleep_trouble_days=0, low_mood_days=0, anxious_days=0, angry_days=0,
                confidence=confidence, support=2, meeting_days=0, wants_call=call, risk_score=0, protective_score=0,
            )  # fmt: skip
            built.answers.append((str(checkin.pk), at, use, craving, confidence, call))
        for index, days_ago in enumerate(rec.unanswered):
            expires = now - datetime.timedelta(days=days_ago, hours=1)
            checkin = CheckIn.objects.create(
                clinic=patient.clinic, patient=patient, plan=plan, due_on=today - datetime.timedelta(days=200 + index),
                send_at=expires - datetime.timedelta(hours=72), expires_at=expires, status="expired",
            )  # fmt: skip
            built.unanswered.append((str(checkin.pk), expires))
    for days_ago, direction, level in rec.transitions:
        transition = CareTransition.objects.create(
            clinic=patient.clinic, patient=patient, direction=direction, level_of_care=level,
            occurred_on=today - datetime.timedelta(days=days_ago), recorded_by=by,
        )  # fmt: skip
        built.transitions.append((str(transition.pk), transition.occurred_on, direction, level))
    for days_ago, results, error in rec.screens:
        screen = DrugScreen.objects.create(
            clinic=patient.clinic, patient=patient, collected_on=today - datetime.timedelta(days=days_ago),
            recorded_by=by, **(_error(now) if error else {}),
        )  # fmt: skip
        for analyte, result, expected in results:
            DrugScreenResult.objects.create(screen=screen, analyte=analyte, result=result, expected=expected)
        built.screens.append((str(screen.pk), screen.collected_on, list(results), error))
    return built


Found = dict[str, tuple[str, set[str]]]


def _medication(found: Found, built: Built, medication: str, today: datetime.date) -> None:
    doses = [d for d in built.doses if not d[4] and d[1] <= today]
    if not doses:
        return
    last_event = max(d[1] for d in doses)

    def covered(dose: tuple[str, datetime.date, str, int | None, bool]) -> datetime.date | None:
        if dose[2] == "take_home_dispensed":
            return dose[1] + datetime.timedelta(days=(dose[3] or 1) - 1)
        return None if dose[2] == "dose_missed" else dose[1]

    covering = [d for d in doses if covered(d) is not None]
    until = max((day for day in map(covered, covering) if day is not None), default=None)
    if medication == "naltrexone":
        injected = max((d[1] for d in doses if d[2] == "injection_given"), default=None)
        if injected is not None and (today - injected).days <= 120 and today > injected + datetime.timedelta(days=35):
            found["naltrexone_overdue"] = (
                "high",
                {d[0] for d in doses if d[2] == "injection_given" and d[1] == injected},
            )
        return
    code, medium, high, watch = (
        ("medication_missed", 3, 5, 30) if medication == "methadone" else ("buprenorphine_gap", 3, 7, 60)
    )
    if until is None or (today - last_event).days > watch:
        return
    missed = (today - until).days - 1
    if missed >= medium:
        first = min((d for d in covering if covered(d) == until), key=lambda d: d[0])
        evidence = {first[0]} | {d[0] for d in doses if d[2] == "dose_missed" and until < d[1] <= today}
        found[code] = ("high" if missed >= high else "medium", evidence)


def _checkins(found: Found, built: Built, now: datetime.datetime) -> None:
    answered = [a for a in built.answers if a[1] <= now]
    last = max(answered, key=lambda a: (a[1], a[0]), default=None)
    if last is not None:
        checkin_id, at, use, craving, confidence, call = last
        if at > now - datetime.timedelta(days=14) and use >= 1:
            found["checkin_use"] = ("high", {checkin_id})
        if at > now - datetime.timedelta(days=14) and (craving >= 3 or confidence <= 1):
            found["checkin_craving"] = ("medium", {checkin_id})
        if at > now - datetime.timedelta(days=7) and call:
            found["checkin_call_request"] = ("high", {checkin_id})
    since = last[1] if last is not None else None
    silent = [c for c in built.unanswered if c[1] <= now and (since is None or c[1] > since)]
    if len(silent) >= 2:
        found["checkin_silent"] = ("low", {c[0] for c in silent})


def _screens(found: Found, built: Built, today: datetime.date) -> None:
    recent = [s for s in built.screens if not s[3] and today - datetime.timedelta(days=30) < s[1] <= today]
    positive = {s[0] for s in recent if any(r == "positive" and not e for _, r, e in s[2])}
    negative = {
        s[0]
        for s in recent
        if any(r == "negative" and not e and a in {"methadone", "buprenorphine"} for a, r, e in s[2])
    }
    if positive:
        found["drug_screen"] = ("high", positive)
    if negative:
        found["mat_negative_screen"] = ("medium", negative)


def _follow_up(found: Found, built: Built, patient: Any, attended: list[Any], today: datetime.date) -> None:
    candidates: list[tuple[datetime.date, str | None]] = [
        (day, transition_id)
        for transition_id, day, direction, level in built.transitions
        if (direction == "discharged" or level in HIGH_INTENSITY) and day <= today and (today - day).days <= 90
    ]
    if patient.status == "discharged" and patient.discharge_date and (today - patient.discharge_date).days <= 90:
        candidates.append((patient.discharge_date, None))
    if not candidates:
        return
    # The latest day; on one day a record before the bare discharge date, the least id first.
    day, transition_id = min(candidates, key=lambda c: (-c[0].toordinal(), c[1] is None, c[1] or ""))

    def within(days: int) -> list[Any]:
        return [e for e in attended if day <= e.starts_at.date() <= day + datetime.timedelta(days=days)]

    evidence = {e.id for e in within(30)} | ({transition_id} if transition_id else set())
    if day + datetime.timedelta(days=7) < today and not within(7):
        found["post_discharge_gap"] = ("high", evidence)
    elif day + datetime.timedelta(days=30) < today and len(within(30)) < 2:
        found["post_discharge_gap"] = ("medium", evidence)


def expected_records(
    patient: Any, built: Built, medication: str | None, attended: list[Any], now: datetime.datetime
) -> Found:
    found: Found = {}
    today = now.date()
    if medication is not None:
        _medication(found, built, medication, today)
    _checkins(found, built, now)
    _screens(found, built, today)
    _follow_up(found, built, patient, attended, today)
    return found
