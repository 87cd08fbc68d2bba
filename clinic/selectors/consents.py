from __future__ import annotations

from django.db.models import QuerySet

from clinic.models import Clinic, Consent, Disclosure, Patient


def consent_list(*, clinic: Clinic, patient: Patient) -> QuerySet[Consent]:
    return Consent.objects.filter(clinic=clinic, patient=patient)


def disclosure_list(*, clinic: Clinic, patient: Patient) -> QuerySet[Disclosure]:
    return Disclosure.objects.filter(clinic=clinic, patient=patient)
