from clinic.models.base import TimeStampedModel
from clinic.models.idempotency import IdempotencyKey
from clinic.models.integration import IntegrationClient
from clinic.models.organisation import CARE_ROLES, Clinic, Role, StaffMembership, User, validate_time_zone
from clinic.models.patients import Language, Patient, PatientStatus

__all__ = [
    "CARE_ROLES",
    "Clinic",
    "IdempotencyKey",
    "IntegrationClient",
    "Language",
    "Patient",
    "PatientStatus",
    "Role",
    "StaffMembership",
    "TimeStampedModel",
    "User",
    "validate_time_zone",
]
