"""The demo's people: each patient's plan, written from their story, with its parts varied
(warning signs, triggers, coping strategies, supporters and sponsors with phone numbers of their own,
naloxone in the emergency plan) and the support group and medication it names."""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass, field

from aftercare.models import (
    AftercarePlan,
    Medication,
    PlanActivity,
    PlanStatus,
)
from clinic.demo import Course, Story
from clinic.models import Patient, PatientStatus, User

# Medication by patient: the featured ones, then about a third of those doing well (drawn).
MEDICATION_OF: dict[int, str] = {
    2: Medication.METHADONE,
    3: Medication.BUPRENORPHINE,
    6: Medication.BUPRENORPHINE,
    7: Medication.NALTREXONE,
}

# How it is given, and how often: (dose schedule, frequency period).
SCHEDULES: dict[str, tuple[str, str]] = {
    Medication.METHADONE: ("Daily, observed at the clinic", "day"),
    Medication.BUPRENORPHINE: ("Daily; a week's supply at a time", "day"),
    Medication.NALTREXONE: ("380 mg extended-release injection every 4 weeks", "month"),
}
WARNING_SIGNS = [
    "Skipping meals", "Isolating from friends", "Not answering my sponsor", "Sleeping past noon",
    "Missing work without calling", "Snapping at my kids", "Thinking 'just once won't hurt'",
    "Carrying more cash than I need", "Driving past my old dealer's block", "Dropping my morning walk",
]  # fmt: skip
TRIGGERS = [
    ("stress", "Money worries at the end of the month"), ("stress", "Deadlines at the warehouse"),
    ("negative_emotions", "Anniversary of my brother's death"), ("negative_emotions", "Feeling lonely on Sundays"),
    ("social_pressure", "Old friends from the bar"), ("celebrations", "Family weddings and the holidays"),
    ("pain_or_illness", "Back pain after long shifts"), ("people_and_places", "The gas station on 5th Street"),
    ("people_and_places", "Payday Fridays downtown"),
]  # fmt: skip
COPING = [
    "Box breathing", "Call my sponsor", "Journaling", "A walk around the block", "Play the urge through to the end",
    "Text my sister", "Go to an evening meeting", "Ten minutes of meditation", "Cook something", "Gym after work",
]  # fmt: skip
ROUTINES = [
    "Up at 7, walk, work at the warehouse, a meeting on Tuesday and Thursday evenings.",
    "School drop-off, volunteering at the food bank, dinner with my mother on Sundays.",
    "Night shift: sleep 9 to 4, gym, a noon meeting on my days off.",
    "Job search in the morning, library afternoons, in bed by 11.",
]
SUPPORT = ["Maria (sister)", "Dwayne (roommate)", "Aunt Rosa", "Kevin (coworker)", "Pastor Lee", "Janelle (partner)"]
SPONSORS = ["Ray S.", "Carmen D.", "Big Mike", "Linda T."]
NALOXONE = (
    "Naloxone (two nasal sprays) is in the kitchen drawer and in my backpack; my roommate knows where. If I am "
    "hard to wake: call 911, give one spray, rescue breathing, the second spray after 3 minutes."
)
GROUPS = [  # (name, kind, weekday): each plan names one of these kinds
    ("Tuesday SMART Recovery", "smart", 1),
    ("Thursday peer support", "peer", 3),
    ("Saturday morning 12-step meeting", "twelve_step", 5),
]


@dataclass
class Person:
    """One patient while their history is written."""

    number: int
    patient: Patient
    clinician: User
    course: Course
    plan: AftercarePlan
    medication: str
    group_kind: str
    stopped_on: datetime.date | None = None  # the last day of care they came to, when they stopped
    rows: list[object] = field(default_factory=list)


def person_create(*, number: int, patient: Patient, clinician: User, course: Course, rng: random.Random) -> Person:
    active = patient.status == PatientStatus.ACTIVE
    medication = MEDICATION_OF.get(number, "")
    if not medication and course.story == Story.STEADY and rng.random() < 0.35:
        medication = rng.choice([Medication.METHADONE, Medication.BUPRENORPHINE])
    group_kind = rng.choice([kind for _, kind, _ in GROUPS])
    stopped = (
        patient.intake_date + datetime.timedelta(days=course.stopped_on_day)
        if course.stopped_on_day is not None
        else None
    )
    # One or two people close to them, each with a phone of their own.
    supporters = [
        {"name": name, "relationship": relationship.rstrip(")") or "family", "phone": _phone(number, area)}
        for (name, _, relationship), area in zip(
            (s.partition(" (") for s in rng.sample(SUPPORT, rng.randint(1, 2))), (773, 708), strict=False
        )
    ]
    plan = AftercarePlan.objects.create(
        clinic=patient.clinic,
        patient=patient,
        status=PlanStatus.ACTIVE if active else PlanStatus.COMPLETED,
        start_date=patient.intake_date,
        end_date=None if active else patient.discharge_date,
        goals=rng.choice(
            [
                "Stay connected to care; rebuild a daily routine.",
                "Keep my job and my apartment.",
                "Be there for my kids; six months without a lapse.",
                "Finish my GED and stay in the group.",
            ]
        ),
        warning_signs=rng.sample(WARNING_SIGNS, 3),
        triggers=[{"category": c, "description": d} for c, d in rng.sample(TRIGGERS, 2)],
        coping_strategies=rng.sample(COPING, 3),
        daily_routine=rng.choice(ROUTINES),
        emergency_plan={
            "contacts": [
                supporters[0],
                {"name": "Crisis line", "relationship": "", "phone": "988"},
            ],
            "where_to_go": "The clinic's walk-in hours (weekdays 8-5), or the nearest emergency room",
            "what_to_do": "Leave the situation, call someone on this list, then the clinic. " + NALOXONE,
        },
        support_persons=supporters,
        sponsor={"name": rng.choice(SPONSORS), "phone": _phone(number, 872)} if group_kind == "twelve_step" else None,
        checkin_every_days=7,
    )
    activities = [
        PlanActivity(plan=plan, kind="individual_therapy", provider=clinician.get_full_name(), position=0),
        PlanActivity(plan=plan, kind="support_group", support_group_kind=group_kind, position=2),
        PlanActivity(plan=plan, kind="wellness", wellness_kind=rng.choice(["exercise", "meditation", "yoga",
                     "journaling"]), frequency_count=3, position=3),
    ]  # fmt: skip
    if medication:
        schedule, period = SCHEDULES[medication]
        activities.append(
            PlanActivity(plan=plan, kind="medication", medication=medication, dose_schedule=schedule,
                         medication_started_on=patient.intake_date, frequency_period=period, position=1)
        )  # fmt: skip
    PlanActivity.objects.bulk_create(activities)
    return Person(number, patient, clinician, course, plan, medication, group_kind, stopped)


def _phone(number: int, area: int) -> str:
    # 555-0100 to 555-0199 are reserved for fiction in every area code.
    return f"+1 {area}-555-01{number % 100:02d}"
