"""Request and response examples of the registry's operations, by operationId (clinic.api.schema).

One made-up clinic's records, consistent across operations: the same patient, clinician and
consent wherever they appear. The people are obviously fictional; tests/clinic/test_schema_docs.py
validates every example against the schema of its own request or response.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample

from clinic.models.consents import REDISCLOSURE_NOTICE

PATIENT_ID = "3f2b8c1e-5d4a-4e7b-9c6d-1a2b3c4d5e6f"
CLINICIAN_ID = "8a7b6c5d-4e3f-4a1b-8c9d-0e1f2a3b4c5d"
CLIENT_ID = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"
CONSENT_ID = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
DISCLOSURE_ID = "d4c3b2a1-0f9e-4d8c-b7a6-5f4e3d2c1b0a"
APPOINTMENT_ID = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
EVENT_ID = "e9f8a7b6-c5d4-4e3f-a2b1-0c9d8e7f6a5b"
REQUEST_ID = "7c6d5e4f-3a2b-4c1d-9e8f-7a6b5c4d3e2f"

NOTICE = REDISCLOSURE_NOTICE


def request(value: Any, name: str = "Request") -> OpenApiExample:
    return OpenApiExample(name, value=value, request_only=True)


def response(value: Any, name: str = "Response", media_type: str | None = None) -> OpenApiExample:
    return OpenApiExample(name, value=value, response_only=True, media_type=media_type)


_PATIENT_FIELDS = {
    "external_id": "MRN-000417",
    "given_name": "Robin",
    "family_name": "Example",
    "date_of_birth": "1988-04-12",
    "email": "robin.example@example.org",
    "phone": "+1 555-0100",
    "preferred_language": "en",
    "reminders_opt_in": True,
    "checkins_opt_in": True,
    "status": "active",
    "assigned_clinician": CLINICIAN_ID,
    "intake_date": "2026-09-01",
    "discharge_date": None,
}
PATIENT = {
    "id": PATIENT_ID,
    **_PATIENT_FIELDS,
    "created_at": "2026-09-01T14:05:00Z",
    "updated_at": "2026-11-20T09:30:00Z",
}

STAFF_MEMBER = {
    "id": CLINICIAN_ID,
    "first_name": "Sam",
    "last_name": "Sample",
    "role": "clinician",
    "active": True,
    "external_id": "PRV-0042",
    "npi": "1234567893",
    "updated_at": "2026-10-02T08:00:00Z",
}

CONSENT = {
    "id": CONSENT_ID,
    "patient": PATIENT_ID,
    "recipient_name": "Example Primary Care Group",
    "recipient_kind": "treating_provider",
    "purpose": "Coordination of care with the patient's primary care provider",
    "categories": ["demographics", "enrollment", "attendance"],
    "expires_on": "2027-08-31",
    "expiry_event": "",
    "signed_on": "2026-09-01",
    "state": "active",
    "recorded_by": f"user:{CLINICIAN_ID}",
    "recorded_at": "2026-09-01T15:00:00Z",
    "revoked_at": None,
    "revoked_by": "",
    "revocation_reason": "",
    "created_at": "2026-09-01T15:00:00Z",
    "updated_at": "2026-09-01T15:00:00Z",
}
REVOKED_CONSENT = {
    **CONSENT,
    "state": "revoked",
    "revoked_at": "2026-11-21T10:00:00Z",
    "revoked_by": f"user:{CLINICIAN_ID}",
    "revocation_reason": "The patient withdrew consent in writing.",
    "updated_at": "2026-11-21T10:00:00Z",
}

_RELEASED = {
    "id": DISCLOSURE_ID,
    "patient": PATIENT_ID,
    "consent": CONSENT_ID,
    "recipient_name": "Example Primary Care Group",
    "purpose": "Coordination of care with the patient's primary care provider",
    "categories": ["demographics", "enrollment"],
    "released_by": f"client:{CLIENT_ID}",
    "released_at": "2026-11-20T16:00:00Z",
    "notice": NOTICE,
    "content_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "created_at": "2026-11-20T16:00:00Z",
    "updated_at": "2026-11-20T16:00:00Z",
}
DISCLOSURE = {**_RELEASED, "withheld": {}}

ACCESS_EVENT = {
    "id": EVENT_ID,
    "at": "2026-11-20T09:30:00Z",
    "actor": f"client:{CLIENT_ID}",
    "action": "view",
    "object_type": "patient",
    "object_ids": [PATIENT_ID],
    "patient_ids": [PATIENT_ID],
    "method": "GET",
    "path": f"/api/v1/patients/{PATIENT_ID}/",
    "status_code": 200,
    "ip": "203.0.113.10",
    "request_id": REQUEST_ID,
}
ACCESS_LOG_CSV = (
    "id,at,actor,action,object_type,object_ids,patient_ids,method,path,status_code,ip,request_id\r\n"
    f"{EVENT_ID},2026-11-20T09:30:00+00:00,client:{CLIENT_ID},view,patient,{PATIENT_ID},{PATIENT_ID},GET,"
    f"/api/v1/patients/{PATIENT_ID}/,200,203.0.113.10,{REQUEST_ID}\r\n"
)

HISTORY_ENTRY = {
    "at": "2026-11-20T09:30:00Z",
    "object_type": "clinic.Patient",
    "object_id": PATIENT_ID,
    "change": "update",
    "changes": {"phone": ["+1 555-0199", "+1 555-0100"]},
    "snapshot": {**_PATIENT_FIELDS, "id": PATIENT_ID},
    "actor": f"client:{CLIENT_ID}",
    "url": f"/api/v1/patients/{PATIENT_ID}/",
}

EXAMPLES: dict[str, list[OpenApiExample]] = {
    "patients_list": [response(PATIENT)],
    "patient_create": [request(_PATIENT_FIELDS), response(PATIENT)],
    "patient_upsert": [request(_PATIENT_FIELDS), response(PATIENT)],
    "patient_retrieve": [response(PATIENT)],
    "patient_update": [request(_PATIENT_FIELDS), response(PATIENT)],
    "patient_partial_update": [
        request({"phone": "+1 555-0100", "reminders_opt_in": True}),
        response(PATIENT),
    ],
    "patient_history_list": [response(HISTORY_ENTRY)],
    "consents_list": [response(CONSENT)],
    "consent_record": [
        request(
            {
                "recipient_name": CONSENT["recipient_name"],
                "recipient_kind": "treating_provider",
                "purpose": CONSENT["purpose"],
                "categories": CONSENT["categories"],
                "expires_on": CONSENT["expires_on"],
                "signed_on": CONSENT["signed_on"],
            }
        ),
        response(CONSENT),
    ],
    "consent_retrieve": [response(CONSENT)],
    "consent_revoke": [request({"reason": REVOKED_CONSENT["revocation_reason"]}), response(REVOKED_CONSENT)],
    "disclosures_list": [response(DISCLOSURE)],
    "disclosure_release": [
        request(
            {
                "consent": CONSENT_ID,
                "recipient_name": _RELEASED["recipient_name"],
                "categories": _RELEASED["categories"],
            }
        ),
        response(
            {
                "disclosure": _RELEASED,
                "notice": NOTICE,
                "data": {
                    "demographics": {
                        key: _PATIENT_FIELDS[key]
                        for key in (
                            "external_id",
                            "given_name",
                            "family_name",
                            "date_of_birth",
                            "email",
                            "phone",
                            "preferred_language",
                        )
                    },
                    "enrollment": {"status": "active", "intake_date": "2026-09-01", "discharge_date": None},
                },
            }
        ),
    ],
    "disclosure_retrieve": [response(DISCLOSURE)],
    "access_events_list": [response(ACCESS_EVENT)],
    "staff_list": [response(STAFF_MEMBER)],
    "staff_retrieve": [response(STAFF_MEMBER)],
    "access_events_export": [response(ACCESS_LOG_CSV, media_type="text/csv")],
}
