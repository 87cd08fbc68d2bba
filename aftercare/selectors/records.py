"""Reads of the clinical records (care transitions, medication events, drug screens): the API's
lists, and a patient's records for their page, most recent first."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Prefetch, QuerySet

from aftercare.models import CareTransition, DrugScreen, DrugScreenResult, MedicationEvent
from clinic.models import Clinic

R = TypeVar("R", CareTransition, MedicationEvent, DrugScreen)


def _with_recorder(rows: QuerySet[R]) -> QuerySet[R]:
    return rows.select_related("recorded_by", "recorded_by_client")


def care_transition_list(*, clinic: Clinic) -> QuerySet[CareTransition]:
    return CareTransition.objects.filter(clinic=clinic)


def medication_event_list(*, clinic: Clinic) -> QuerySet[MedicationEvent]:
    return MedicationEvent.objects.filter(clinic=clinic)


def drug_screen_list(*, clinic: Clinic) -> QuerySet[DrugScreen]:
    """Screens with their results (one more query for a whole page)."""
    return DrugScreen.objects.filter(clinic=clinic).prefetch_related(
        Prefetch("results", queryset=DrugScreenResult.objects.order_by("analyte"))
    )


def patient_care_transitions(*, clinic: Clinic, patient_id: Any, limit: int = 20) -> list[CareTransition]:
    """A patient's latest transitions, newest first, entered-in-error ones included (shown struck out)."""
    rows = care_transition_list(clinic=clinic).filter(patient_id=patient_id)
    return list(
        rows.select_related("recorded_by", "recorded_by_client").order_by("-occurred_on", "-created_at")[:limit]
    )


def patient_medication_events(*, clinic: Clinic, patient_id: Any, limit: int = 30) -> list[MedicationEvent]:
    rows = medication_event_list(clinic=clinic).filter(patient_id=patient_id)
    return list(
        rows.select_related("recorded_by", "recorded_by_client").order_by("-occurred_on", "-created_at")[:limit]
    )


def patient_drug_screens(*, clinic: Clinic, patient_id: Any, limit: int = 20) -> list[DrugScreen]:
    rows = drug_screen_list(clinic=clinic).filter(patient_id=patient_id)
    return list(
        rows.select_related("recorded_by", "recorded_by_client").order_by("-collected_on", "-created_at")[:limit]
    )
