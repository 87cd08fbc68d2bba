"""Writes of the clinical records the risk rules read: care transitions, medication events, drug
screens. Each write is atomic, takes the caller (`by`), names the field of every refusal and
queues risk evaluation of the patient after commit."""

from aftercare.services.records.common import UNSET, record_mark_entered_in_error
from aftercare.services.records.medication import (
    medication_event_create,
    medication_event_update,
    medication_event_upsert,
)
from aftercare.services.records.screens import (
    ResultInput,
    drug_screen_create,
    drug_screen_update,
    drug_screen_upsert,
    patient_maintenance_medications,
    result_expected,
)
from aftercare.services.records.transitions import (
    care_transition_create,
    care_transition_update,
    care_transition_upsert,
)

__all__ = [
    "UNSET",
    "ResultInput",
    "care_transition_create",
    "care_transition_update",
    "care_transition_upsert",
    "drug_screen_create",
    "drug_screen_update",
    "drug_screen_upsert",
    "medication_event_create",
    "medication_event_update",
    "medication_event_upsert",
    "patient_maintenance_medications",
    "record_mark_entered_in_error",
    "result_expected",
]
