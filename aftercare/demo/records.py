"""The demo's clinical records: care transitions, dosing events and drug screens."""

from __future__ import annotations

import datetime
import random
from decimal import Decimal
from typing import Any

from aftercare.demo.people import Person
from aftercare.models import (
    Medication,
)
from aftercare.models.records import (
    Analyte,
    CareTransition,
    DrugScreen,
    DrugScreenResult,
    LevelOfCare,
    MedicationEvent,
    MedicationEventKind,
    ScreenResult,
    TransitionDirection,
)
from clinic.demo import Story
from clinic.models import PatientStatus

MAT_ANALYTE: dict[str, str] = {Medication.METHADONE: Analyte.METHADONE, Medication.BUPRENORPHINE: Analyte.BUPRENORPHINE}


def records_write(*, person: Person, rng: random.Random, today: datetime.date) -> None:
    """Care transitions, dosing events and drug screens, as the EHR and the dispensing system
    would have recorded them."""
    patient, story = person.patient, person.course.story
    common: dict[str, Any] = {"clinic": patient.clinic, "patient": patient, "recorded_by": person.clinician}
    intake, day = patient.intake_date, datetime.timedelta(days=1)
    transitions = []
    if story in (Story.STEPPED_DOWN, Story.STEPPED_DOWN_LOST):
        level, source = (
            (LevelOfCare.RESIDENTIAL, "Cedar Hollow Residential Program")
            if person.number % 2
            else (LevelOfCare.WITHDRAWAL_MANAGEMENT, "Lakeview Withdrawal Management Unit")
        )
        transitions.append((TransitionDirection.ENTERED_AFTERCARE, level, intake, source))
    elif story == Story.STEADY and (today - intake).days > 120 and rng.random() < 0.4:
        # Stepped down long ago, followed up then: outside every watch window now.
        transitions.append((TransitionDirection.ENTERED_AFTERCARE, LevelOfCare.RESIDENTIAL, intake,
                            "Cedar Hollow Residential Program"))  # fmt: skip
    elif story == Story.COMPLETED and patient.discharge_date:
        transitions.append((TransitionDirection.DISCHARGED, LevelOfCare.OUTPATIENT, patient.discharge_date,
                            "Completed aftercare; primary care at Northside Family Health"))  # fmt: skip
    CareTransition.objects.bulk_create(
        CareTransition(direction=d, level_of_care=lv, occurred_on=on, source=src, **common)
        for d, lv, on, src in transitions
    )
    events: list[MedicationEvent] = []
    medication = person.medication
    if patient.status == PatientStatus.ACTIVE and medication:
        start = max(intake, today - datetime.timedelta(days=84))
        if medication == Medication.METHADONE:
            # Observed daily at the programme (open every day); three days missed for one patient.
            last_dose = today - day * (4 if story == Story.METHADONE_MISSED else 1)
            mg = Decimal(rng.choice([60, 80, 90, 100, 110]))
            on = start
            while on <= last_dose:
                events.append(MedicationEvent(medication=medication, kind=MedicationEventKind.DOSE_OBSERVED,
                                              occurred_on=on, dose_mg=mg, **common))  # fmt: skip
                on += day
            while on < today:
                events.append(MedicationEvent(medication=medication, kind=MedicationEventKind.DOSE_MISSED,
                                              occurred_on=on, **common))  # fmt: skip
                on += day
        elif medication == Medication.BUPRENORPHINE:
            # Induction observed at intake, then a week's supply picked up every week.
            mg = Decimal(rng.choice([8, 12, 16, 24]))
            if start == intake:
                events.append(MedicationEvent(medication=medication, kind=MedicationEventKind.DOSE_OBSERVED,
                                              occurred_on=intake, dose_mg=mg, **common))  # fmt: skip
            on = start
            while on <= today:
                events.append(MedicationEvent(medication=medication, kind=MedicationEventKind.TAKE_HOME_DISPENSED,
                                              occurred_on=on, days_covered=7, dose_mg=mg, **common))  # fmt: skip
                on += day * 7
        else:
            on = intake
            while on <= today:
                events.append(MedicationEvent(medication=medication, kind=MedicationEventKind.INJECTION_GIVEN,
                                              occurred_on=on, dose_mg=Decimal(380), **common))  # fmt: skip
                on += day * 28
    MedicationEvent.objects.bulk_create(events)
    _screens(person, rng, today, common)


def _screens(person: Person, rng: random.Random, today: datetime.date, common: dict[str, Any]) -> None:
    """A screen for everyone on methadone or buprenorphine and for a few others: all as their
    treatment predicts, except one buprenorphine patient's, positive for fentanyl."""
    patient, story, medication = person.patient, person.course.story, person.medication
    if patient.status != PatientStatus.ACTIVE or (today - patient.intake_date).days < 14:
        return
    if medication not in MAT_ANALYTE and not (story == Story.STEADY and rng.random() < 0.15):
        return
    expected_positive = MAT_ANALYTE.get(medication)
    collected = today - datetime.timedelta(days=6 if story == Story.FENTANYL_SCREEN else rng.randint(8, 13))
    analytes: list[str] = [Analyte.OPIOIDS, Analyte.FENTANYL, Analyte.COCAINE, Analyte.BENZODIAZEPINES]
    if expected_positive:
        analytes.append(expected_positive)
    screen = DrugScreen(collected_on=collected, panel="12-panel + fentanyl", **common)
    results = []
    for analyte in analytes:
        positive = analyte == expected_positive or (story == Story.FENTANYL_SCREEN and analyte == Analyte.FENTANYL)
        results.append(
            DrugScreenResult(screen=screen, analyte=analyte,
                             result=ScreenResult.POSITIVE if positive else ScreenResult.NEGATIVE,
                             expected=positive == (analyte == expected_positive))
        )  # fmt: skip
    screen.save()
    DrugScreenResult.objects.bulk_create(results)
