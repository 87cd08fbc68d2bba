"""The demo's recovery check-ins: weekly answers for the patients who opted in."""

from __future__ import annotations

import datetime
import random
import zoneinfo

from django.conf import settings

from aftercare.checkins.instrument import VERSION, Answers
from aftercare.demo.people import Person
from aftercare.models.checkins import CheckIn, CheckInResponse, CheckInStatus
from clinic.demo import Story
from clinic.models import PatientStatus


def _answers(person: Person, weeks_back: int, rng: random.Random) -> Answers:
    """One week's answers: settled for most; craving rising over the last month for one patient
    (before their sessions stop), a hard week and a request to be called for another."""
    story = person.course.story
    if story == Story.CRAVING_RISING and weeks_back < 4:
        rise = 3 - weeks_back  # 0 four weeks ago .. 3 this week
        return Answers(use_days=0, craving=1 + rise, sleep_trouble_days=1 + rise, low_mood_days=1 + rise,
                       anxious_days=2 + rise, angry_days=rise, confidence=(3, 2, 2, 1)[rise],
                       support=max(1, 3 - rise), meeting_days=max(0, 2 - rise), wants_call=False)  # fmt: skip
    if story == Story.CALL_REQUEST and weeks_back == 0:
        return Answers(use_days=0, craving=2, sleep_trouble_days=5, low_mood_days=5, anxious_days=6, angry_days=2,
                       confidence=2, support=1, meeting_days=1, wants_call=True)  # fmt: skip
    return Answers(use_days=0, craving=rng.choice([0, 0, 1, 1, 2]), sleep_trouble_days=rng.randint(0, 2),
                   low_mood_days=rng.randint(0, 2), anxious_days=rng.randint(0, 3), angry_days=rng.randint(0, 1),
                   confidence=rng.choice([3, 4, 4]), support=rng.randint(2, 4), meeting_days=rng.randint(1, 3),
                   wants_call=False)  # fmt: skip


def checkins_write(
    *, person: Person, rng: random.Random, zone: zoneinfo.ZoneInfo, now: datetime.datetime, today: datetime.date
) -> None:
    """Weekly check-ins for those who opted in, since their plan started: answered, now and then
    one left to expire (never the latest, never two in a row). The last fell due a few days ago,
    so the scheduler sends the next on time."""
    patient = person.patient
    if patient.status != PatientStatus.ACTIVE or not patient.checkins_opt_in:
        return
    link = datetime.timedelta(hours=settings.AFTERCARE_CHECKIN_LINK_HOURS)
    due = today - datetime.timedelta(days=rng.randint(1, 5))
    checkins, responses, weeks_back, expired_after = [], [], 0, False
    while due > patient.intake_date:
        sent = datetime.datetime.combine(due, datetime.time(settings.AFTERCARE_CHECKIN_SEND_HOUR), tzinfo=zone)
        expire = weeks_back > 4 and not expired_after and rng.random() < 0.12
        checkin = CheckIn(clinic=patient.clinic, patient=patient, plan=person.plan, due_on=due, send_at=sent,
                          sent_at=sent, expires_at=sent + link, attempts=1)  # fmt: skip
        if expire:
            checkin.status = CheckInStatus.EXPIRED
        else:
            answers = _answers(person, weeks_back, rng)
            checkin.status = CheckInStatus.ANSWERED
            checkin.answered_at = min(sent + datetime.timedelta(minutes=rng.randint(20, 600)), now)
            responses.append(
                CheckInResponse(checkin=checkin, clinic=patient.clinic, patient=patient, instrument=VERSION,
                                answered_at=checkin.answered_at, risk_score=answers.risk_score,
                                protective_score=answers.protective_score,
                                **{name: getattr(answers, name) for name in Answers.__dataclass_fields__})
            )  # fmt: skip
        expired_after = expire
        checkins.append(checkin)
        due -= datetime.timedelta(weeks=1)
        weeks_back += 1
    CheckIn.objects.bulk_create(checkins)
    CheckInResponse.objects.bulk_create(responses)
