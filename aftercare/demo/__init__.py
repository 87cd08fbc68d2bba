"""Months of aftercare history for the demo clinic, told patient by patient from their course
(clinic/demo.py `Story`): plans of their own, weekly therapy, the support group their plan names,
medication-assisted treatment as the dispensing system records it (methadone dosed daily,
buprenorphine supplied for a week at a time, naltrexone injected monthly), care transitions,
drug screens and weekly check-ins. Written once: a clinic that already has appointments is left as
it is.

Most patients do well and the risk rules leave them alone; the few whose story is a warning sign
raise the flags a clinician would raise (the demo's tests hold both). Seeded, so every load tells
the same stories.
"""

from __future__ import annotations

import random
import zoneinfo

from django.db import transaction
from django.utils import timezone

from aftercare.demo.checkins import checkins_write
from aftercare.demo.people import person_create
from aftercare.demo.records import records_write
from aftercare.demo.sessions import groups_write, therapy_write
from aftercare.models import Appointment
from clinic.demo import demo_courses
from clinic.models import Clinic, Patient

__all__ = ["seed_history"]


@transaction.atomic
def seed_history(clinic: Clinic, *, weeks: int = 20) -> bool:
    """Returns False when the clinic already had a history."""
    if Appointment.objects.filter(clinic=clinic).exists():
        return False
    rng = random.Random(42)
    zone = zoneinfo.ZoneInfo(clinic.time_zone)
    now = timezone.now()
    today = timezone.localdate(timezone=zone)
    courses = demo_courses()
    patients = Patient.objects.filter(clinic=clinic, assigned_clinician__isnull=False).order_by("external_id")
    people = []
    for patient in patients:
        course = courses.get(patient.external_id or "")
        if course is None or patient.assigned_clinician is None:
            continue
        number = int((patient.external_id or "").rsplit("-", 1)[1])
        clinician = patient.assigned_clinician
        people.append(person_create(number=number, patient=patient, clinician=clinician, course=course, rng=rng))
    slots: dict[object, int] = {}
    for person in people:
        slot = slots.get(person.clinician.pk, 0)
        slots[person.clinician.pk] = slot + 1
        therapy_write(person=person, slot=slot, weeks=weeks, rng=rng, zone=zone, now=now, today=today)
        records_write(person=person, rng=rng, today=today)
        checkins_write(person=person, rng=rng, zone=zone, now=now, today=today)
    groups_write(clinic=clinic, people=people, rng=rng, zone=zone, now=now)
    return True
