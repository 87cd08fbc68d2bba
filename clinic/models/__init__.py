from clinic.models.access import AccessAction, AccessEvent
from clinic.models.base import TimeStampedModel
from clinic.models.consents import (
    ALL_CATEGORIES,
    CONSENT_CATEGORY_CHOICES,
    CONSENT_STATES,
    REDISCLOSURE_NOTICE,
    Consent,
    Disclosure,
    DisclosureCategory,
    RecipientKind,
)
from clinic.models.idempotency import IdempotencyKey
from clinic.models.integration import IntegrationClient
from clinic.models.organisation import (
    ASSIGNED_CLINICIAN_CONSTRAINT,
    CARE_ROLES,
    MEMBERSHIP_EXTERNAL_ID_CONSTRAINT,
    Clinic,
    Role,
    StaffMembership,
    User,
    validate_time_zone,
)
from clinic.models.patients import Language, Patient, PatientStatus

__all__ = [
    "ALL_CATEGORIES",
    "ASSIGNED_CLINICIAN_CONSTRAINT",
    "CARE_ROLES",
    "CONSENT_CATEGORY_CHOICES",
    "CONSENT_STATES",
    "MEMBERSHIP_EXTERNAL_ID_CONSTRAINT",
    "REDISCLOSURE_NOTICE",
    "AccessAction",
    "AccessEvent",
    "Clinic",
    "Consent",
    "Disclosure",
    "DisclosureCategory",
    "IdempotencyKey",
    "IntegrationClient",
    "Language",
    "Patient",
    "PatientStatus",
    "RecipientKind",
    "Role",
    "StaffMembership",
    "TimeStampedModel",
    "User",
    "validate_time_zone",
]
