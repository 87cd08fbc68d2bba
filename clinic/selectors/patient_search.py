"""Finding a patient of the clinic by name, MRN or date of birth (the dashboard's patient list):
what front desk needs too, so nothing clinical."""

from __future__ import annotations

import datetime

from django.db.models import Q, QuerySet

from clinic.models import Clinic, Patient


def patient_search(
    *,
    clinic: Clinic,
    text: str = "",
    date_of_birth: datetime.date | None = None,
    status: str | None = None,
) -> QuerySet[Patient]:
    """The clinic's patients by family then given name; every word of `text` must match the given
    name, the family name or the MRN (`external_id`)."""
    patients = Patient.objects.filter(clinic=clinic)
    for word in text.split():
        patients = patients.filter(
            Q(given_name__icontains=word) | Q(family_name__icontains=word) | Q(external_id__icontains=word)
        )
    if date_of_birth is not None:
        patients = patients.filter(date_of_birth=date_of_birth)
    if status:
        patients = patients.filter(status=status)
    return patients.select_related("assigned_clinician").order_by("family_name", "given_name", "pk")
