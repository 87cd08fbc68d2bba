"""Request and response examples of the domain's operations, by operationId (clinic.api.schema).

The same made-up clinic as clinic/api/examples.py: its patient, clinician and client, with their
plan, appointments, groups and flags. Times are instants in UTC for a clinic in New York (a 10:00
appointment there is 15:00Z in November). tests/clinic/test_schema_docs.py validates every example
against the schema of its own request or response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import OpenApiExample

from aftercare.risk.rules import RULES
from clinic.api.examples import CLIENT_ID, CLINICIAN_ID, PATIENT_ID, request, response

PLAN_ID = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
ACTIVITY_ID = "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e"
APPOINTMENT_ID = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
MISSED_APPOINTMENT_ID = "6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d"
SERIES_ID = "4d5e6f7a-8b9c-4d0e-a1f2-3b4c5d6e7f8a"
GROUP_ID = "9c8d7e6f-5a4b-4c3d-8e2f-1a0b9c8d7e6f"
SESSION_ID = "7e6f5a4b-3c2d-4e1f-9a0b-8c7d6e5f4a3b"
MEMBERSHIP_ID = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
MEETING_ID = "3c2d1e0f-9a8b-4c7d-a6e5-f4a3b2c1d0e9"
FLAG_ID = "8d9e0f1a-2b3c-4d4e-9f6a-7b8c9d0e1f2a"
OUTREACH_ID = "b2c3d4e5-f6a7-4b8c-9d0e-f1a2b3c4d5e6"
REMINDER_ID = "f1e2d3c4-b5a6-4978-8a9b-c0d1e2f3a4b5"
TRANSITION_ID = "c3d4e5f6-a7b8-4c9d-8e0f-a1b2c3d4e5f6"
MEDICATION_EVENT_ID = "d4e5f6a7-b8c9-4d0e-9f1a-b2c3d4e5f6a7"
DRUG_SCREEN_ID = "e5f6a7b8-c9d0-4e1f-8a2b-c3d4e5f6a7b8"
CHECK_IN_ID = "a7b8c9d0-e1f2-4a3b-8c4d-5e6f7a8b9c0d"
SECOND_PATIENT_ID = "6d7e8f9a-0b1c-4d2e-b3f4-a5b6c7d8e9f0"

# -- plans ----------------------------------------------------------------------------------------

_CONTACT = {"name": "Sam Placeholder", "relationship": "sibling", "phone": "+1 555-0142"}
_ACTIVITY = {
    "kind": "individual_therapy",
    "frequency_count": 1,
    "frequency_period": "week",
    "provider": "Clinic counselling team",
    "medication": "",
    "dose_schedule": "",
    "medication_started_on": None,
    "support_group_kind": "",
    "wellness_kind": "",
    "notes": "",
}
_PLAN_FIELDS = {
    "patient": PATIENT_ID,
    "status": "active",
    "start_date": "2026-09-01",
    "end_date": "2027-03-01",
    "goals": "Stay engaged in outpatient care; attend a peer group weekly.",
    "warning_signs": ["Skipping group", "Not sleeping", "Avoiding calls"],
    "triggers": [{"category": "stress", "description": "Deadlines at work"}],
    "coping_strategies": ["Call my sponsor", "Box breathing", "Evening walk"],
    "daily_routine": "Up at 07:00, walk after work, lights out by 23:00.",
    "emergency_plan": {
        "contacts": [_CONTACT],
        "where_to_go": "Example County Crisis Center",
        "what_to_do": "Call the crisis line (988) or a contact above; do not stay alone.",
    },
    "support_persons": [_CONTACT],
    "sponsor": {"name": "Jordan Sample", "phone": "+1 555-0177"},
    "checkin_every_days": 7,
    "activities": [_ACTIVITY],
}
PLAN = {
    "id": PLAN_ID,
    **_PLAN_FIELDS,
    "activities": [{"id": ACTIVITY_ID, **_ACTIVITY}],
    "created_at": "2026-09-01T15:30:00Z",
    "updated_at": "2026-11-20T10:00:00Z",
}
COMPLETED_PLAN = {**PLAN, "status": "completed", "end_date": "2026-11-30", "updated_at": "2026-11-30T17:00:00Z"}
DISCONTINUED_PLAN = {**PLAN, "status": "discontinued", "end_date": "2026-11-30", "updated_at": "2026-11-30T17:00:00Z"}

# -- appointments and series ----------------------------------------------------------------------

_BOOKING = {
    "patient": PATIENT_ID,
    "clinician": CLINICIAN_ID,
    "activity": ACTIVITY_ID,
    "kind": "individual_therapy",
    "starts_at": "2026-11-24T15:00:00Z",
    "ends_at": "2026-11-24T15:50:00Z",
    "location": "Room 3",
    "telehealth_url": "",
}
APPOINTMENT = {
    "id": APPOINTMENT_ID,
    **_BOOKING,
    "series": None,
    "occurrence_date": None,
    "detached": False,
    "attendance_status": "scheduled",
    "attendance_recorded_at": None,
    "attendance_recorded_by": None,
    "created_at": "2026-11-17T16:00:00Z",
    "updated_at": "2026-11-17T16:00:00Z",
}
MOVED_APPOINTMENT = {
    **APPOINTMENT,
    "starts_at": "2026-11-25T16:00:00Z",
    "ends_at": "2026-11-25T16:50:00Z",
    "updated_at": "2026-11-20T09:00:00Z",
}
ATTENDED_APPOINTMENT = {
    **APPOINTMENT,
    "attendance_status": "attended",
    "attendance_recorded_at": "2026-11-24T15:55:00Z",
    "attendance_recorded_by": CLINICIAN_ID,
    "updated_at": "2026-11-24T15:55:00Z",
}
ATTENDANCE_HISTORY = [
    {
        "status": "missed",
        "previous_status": "scheduled",
        "recorded_at": "2026-11-24T16:10:00Z",
        "recorded_by": None,
        "recorded_by_client": CLIENT_ID,
        "reason": "",
    },
    {
        "status": "attended",
        "previous_status": "missed",
        "recorded_at": "2026-11-24T17:00:00Z",
        "recorded_by": CLINICIAN_ID,
        "recorded_by_client": None,
        "reason": "Arrived late; the front desk had marked a no-show.",
    },
]

_SERIES_FIELDS = {
    "patient": PATIENT_ID,
    "clinician": CLINICIAN_ID,
    "activity": ACTIVITY_ID,
    "kind": "individual_therapy",
    "rrule": "FREQ=WEEKLY;BYDAY=TU",
    "starts_on": "2026-12-01",
    "local_start_time": "10:00:00",
    "duration_minutes": 50,
    "time_zone": "America/New_York",
    "location": "Room 3",
    "telehealth_url": "",
}
SERIES = {
    "id": SERIES_ID,
    **_SERIES_FIELDS,
    "ended_on": None,
    "materialized_until": "2027-03-01",
    "skipped_dates": [],
    "created_at": "2026-11-20T10:00:00Z",
    "updated_at": "2026-11-20T10:00:00Z",
}
ENDED_SERIES = {**SERIES, "ended_on": "2027-01-31", "materialized_until": "2027-01-31"}

# -- groups ----------------------------------------------------------------------------------------

_GROUP_FIELDS = {
    "name": "Tuesday evening peer group",
    "kind": "peer",
    "facilitator": "Peer support team",
    "location": "Community room",
    "is_active": True,
}
GROUP = {
    "id": GROUP_ID,
    **_GROUP_FIELDS,
    "created_at": "2026-09-01T12:00:00Z",
    "updated_at": "2026-09-01T12:00:00Z",
}
_SESSION_FIELDS = {
    "group": GROUP_ID,
    "starts_at": "2026-11-24T23:00:00Z",
    "ends_at": "2026-11-25T00:30:00Z",
    "location": "Community room",
}
SESSION = {
    "id": SESSION_ID,
    **_SESSION_FIELDS,
    "cancelled": False,
    "created_at": "2026-11-10T12:00:00Z",
    "updated_at": "2026-11-10T12:00:00Z",
}
GROUP_ATTENDANCE = [
    {
        "patient": PATIENT_ID,
        "status": "attended",
        "recorded_by": CLINICIAN_ID,
        "recorded_by_client": None,
        "reason": "",
        "updated_at": "2026-11-25T00:35:00Z",
    },
    {
        "patient": SECOND_PATIENT_ID,
        "status": "missed",
        "recorded_by": CLINICIAN_ID,
        "recorded_by_client": None,
        "reason": "",
        "updated_at": "2026-11-25T00:35:00Z",
    },
]
MEMBERSHIP = {"id": MEMBERSHIP_ID, "patient": PATIENT_ID, "joined_on": "2026-09-08", "left_on": None}
ENDED_MEMBERSHIP = {**MEMBERSHIP, "left_on": "2026-11-30"}
_MEETING_FIELDS = {
    "patient": PATIENT_ID,
    "kind": "twelve_step",
    "date": "2026-11-22",
    "note": "Sunday morning meeting near home",
}
MEETING = {
    "id": MEETING_ID,
    **_MEETING_FIELDS,
    "created_at": "2026-11-23T14:00:00Z",
    "updated_at": "2026-11-23T14:00:00Z",
}

# -- flags, outreach, reminders -------------------------------------------------------------------

_EVIDENCE = [
    {"type": "appointment", "id": MISSED_APPOINTMENT_ID, "starts_at": "2026-11-10T15:00:00Z", "status": "missed"},
    {"type": "appointment", "id": APPOINTMENT_ID, "starts_at": "2026-11-17T15:00:00Z", "status": "missed"},
]
FLAG = {
    "id": FLAG_ID,
    "patient": PATIENT_ID,
    "rule": "consecutive_missed",
    "severity": "medium",
    "stage": "emotional",
    "reason": "Missed 2 in a row: Tue 10 Nov, Tue 17 Nov",
    "status": "open",
    "condition_met": True,
    "evidence": _EVIDENCE,
    "raised_at": "2026-11-17T16:05:00Z",
    "evidence_updated_at": "2026-11-17T16:05:00Z",
    "acknowledged_at": None,
    "acknowledged_by": None,
    "acknowledged_by_client": None,
    "closed_at": None,
    "closed_by": None,
    "closed_by_client": None,
    "resolution_note": "",
    "created_at": "2026-11-17T16:05:00Z",
    "updated_at": "2026-11-17T16:05:00Z",
}
_RAISED = {
    "kind": "raised",
    "severity": "medium",
    "condition_met": True,
    "evidence": _EVIDENCE,
    "at": "2026-11-17T16:05:00Z",
    "by": None,
    "by_client": None,
    "note": "",
}
FLAG_DETAIL = {**FLAG, "history": [_RAISED]}
_ACKNOWLEDGED_AT = "2026-11-18T09:15:00Z"
ACKNOWLEDGED_FLAG = {
    **FLAG,
    "status": "acknowledged",
    "acknowledged_at": _ACKNOWLEDGED_AT,
    "acknowledged_by": CLINICIAN_ID,
    "updated_at": _ACKNOWLEDGED_AT,
    "history": [
        _RAISED,
        {**_RAISED, "kind": "acknowledged", "at": _ACKNOWLEDGED_AT, "by": CLINICIAN_ID, "note": "Calling today."},
    ],
}


def _closed(kind: str, note: str) -> dict[str, object]:
    at = "2026-11-20T11:00:00Z"
    return {
        **ACKNOWLEDGED_FLAG,
        "status": kind,
        "closed_at": at,
        "closed_by": CLINICIAN_ID,
        "resolution_note": note,
        "updated_at": at,
        "history": [
            *ACKNOWLEDGED_FLAG["history"],  # type: ignore[misc]
            {**_RAISED, "kind": kind, "at": at, "by": CLINICIAN_ID, "note": note},
        ],
    }


RESOLVE_NOTE = "Reached by phone; back on the schedule from next week."
DISMISS_NOTE = "Both sessions were missed during a planned hospital stay."

_OUTREACH_FIELDS = {
    "patient": PATIENT_ID,
    "flag": FLAG_ID,
    "channel": "phone",
    "outcome": "left_message",
    "note": "Left a voicemail asking for a call back.",
    "follow_up_on": "2026-11-20",
    "attempted_at": "2026-11-18T14:30:00Z",
}
OUTREACH = {
    "id": OUTREACH_ID,
    **_OUTREACH_FIELDS,
    "by": CLINICIAN_ID,
    "by_client": None,
    "created_at": "2026-11-18T14:31:00Z",
    "updated_at": "2026-11-18T14:31:00Z",
}

REMINDER = {
    "id": REMINDER_ID,
    "patient": PATIENT_ID,
    "kind": "appointment",
    "appointment": APPOINTMENT_ID,
    "group_session": None,
    "offset_minutes": 2880,
    "starts_at": "2026-11-24T15:00:00Z",
    "send_at": "2026-11-22T15:00:00Z",
    "status": "sent",
    "attempts": 1,
    "sent_at": "2026-11-22T15:00:04Z",
    "provider_message_id": "0100018c-example-message-id",
    "last_error": "",
    "created_at": "2026-11-17T16:00:00Z",
    "updated_at": "2026-11-22T15:00:04Z",
}

CHECK_IN = {
    "id": CHECK_IN_ID,
    "patient": PATIENT_ID,
    "plan": PLAN_ID,
    "due_on": "2026-11-17",
    "send_at": "2026-11-17T16:00:00Z",
    "status": "answered",
    "attempts": 1,
    "sent_at": "2026-11-17T16:00:03Z",
    "expires_at": "2026-11-20T16:00:03Z",
    "answered_at": "2026-11-17T19:42:10Z",
    "last_error": "",
    "answers": {
        "instrument": "bam-adapted-1",
        "answered_at": "2026-11-17T19:42:10Z",
        "use_days": 0,
        "craving": 2,
        "sleep_trouble_days": 3,
        "low_mood_days": 2,
        "anxious_days": 4,
        "angry_days": 0,
        "confidence": 3,
        "support": 3,
        "meeting_days": 2,
        "wants_call": False,
        "risk_score": 7,
        "protective_score": 8,
    },
    "created_at": "2026-11-17T06:11:00Z",
    "updated_at": "2026-11-17T19:42:10Z",
}

_NO_CONTACT = RULES["no_contact"]
RISK_RULE = {
    "code": "no_contact",
    "title": _NO_CONTACT.label,
    "stage": "emotional",
    "summary": _NO_CONTACT.summary,
    "severity": _NO_CONTACT.severity,
    "basis": _NO_CONTACT.basis,
    "enabled": True,
    "thresholds": _NO_CONTACT.defaults(),
    "limits": {name: vars(limit) for name, limit in _NO_CONTACT.thresholds.items()},
}
TUNED_RISK_RULE = {**RISK_RULE, "thresholds": {**_NO_CONTACT.defaults(), "medium_days": 21}}

# -- clinical records: care transitions, medication events, drug screens --------------------------

_RECORDED = {
    "recorded_by": None,
    "recorded_by_client": CLIENT_ID,
    "entered_in_error": False,
    "entered_in_error_reason": "",
    "entered_in_error_at": None,
    "created_at": "2026-11-02T14:05:00Z",
    "updated_at": "2026-11-02T14:05:00Z",
}
_ERROR_REASON = "Recorded for the wrong patient."
_ERROR = {"entered_in_error": True, "entered_in_error_reason": _ERROR_REASON, "updated_at": "2026-11-03T09:00:00Z"}
_ERROR_AT = {"entered_in_error_at": "2026-11-03T09:00:00Z"}

_TRANSITION_FIELDS = {
    "patient": PATIENT_ID,
    "external_id": "ADT-88213",
    "direction": "entered_aftercare",
    "level_of_care": "residential",
    "occurred_on": "2026-11-02",
    "source": "Example Valley Residential",
    "notes": "Stepped down after 28 days; first outpatient visit booked.",
}
TRANSITION = {"id": TRANSITION_ID, **_TRANSITION_FIELDS, **_RECORDED}

_MEDICATION_EVENT_FIELDS = {
    "patient": PATIENT_ID,
    "external_id": "DISP-552190",
    "medication": "buprenorphine",
    "kind": "take_home_dispensed",
    "occurred_on": "2026-11-02",
    "days_covered": 7,
    "dose_mg": "16.00",
    "notes": "",
}
MEDICATION_EVENT = {"id": MEDICATION_EVENT_ID, **_MEDICATION_EVENT_FIELDS, **_RECORDED}

_SCREEN_RESULTS = [
    {"analyte": "buprenorphine", "result": "positive"},
    {"analyte": "fentanyl", "result": "negative"},
    {"analyte": "benzodiazepines", "result": "positive", "expected": True},
]
_DRUG_SCREEN_FIELDS = {
    "patient": PATIENT_ID,
    "external_id": "LAB-2026-114502",
    "collected_on": "2026-11-02",
    "specimen": "urine",
    "panel": "12-panel + fentanyl",
    "notes": "Benzodiazepine prescribed for a short course.",
    "analyte_results": _SCREEN_RESULTS,
}
DRUG_SCREEN = {
    "id": DRUG_SCREEN_ID,
    **_DRUG_SCREEN_FIELDS,
    "analyte_results": [
        {"analyte": "benzodiazepines", "result": "positive", "expected": True, "expected_stated": True},
        {"analyte": "buprenorphine", "result": "positive", "expected": True, "expected_stated": False},
        {"analyte": "fentanyl", "result": "negative", "expected": True, "expected_stated": False},
    ],
    **_RECORDED,
}


def _record_examples(
    name: str, plural: str, fields: Mapping[str, Any], read: Mapping[str, Any], patch: Mapping[str, Any]
) -> dict[str, list[OpenApiExample]]:
    """The examples of one record resource's operations."""
    upsert = {key: value for key, value in fields.items() if key != "external_id"}
    return {
        f"{plural}_list": [response(read)],
        f"{name}_create": [request(fields), response(read)],
        f"{name}_retrieve": [response(read)],
        f"{name}_partial_update": [request(patch), response({**read, **patch})],
        f"{name}_upsert": [request(upsert), response(read)],
        f"{name}_entered_in_error": [request({"reason": _ERROR_REASON}), response({**read, **_ERROR, **_ERROR_AT})],
    }


# -- dashboard ------------------------------------------------------------------------------------

SUMMARY = {
    "open_flags": {"high": 2, "medium": 5, "low": 1},
    "sessions_today": 14,
    "attendance_rate_30d": 0.82,
    "attended_30d": 164,
    "missed_30d": 36,
}
CASELOAD_ENTRY = {
    "patient": PATIENT_ID,
    "given_name": "Robin",
    "family_name": "Example",
    "risk": "medium",
    "open_flags": [
        {
            "id": FLAG_ID,
            "rule": "consecutive_missed",
            "severity": "medium",
            "status": "open",
            "condition_met": True,
            "raised_at": "2026-11-17T16:05:00Z",
        }
    ],
    "last_attended": "2026-11-03T15:00:00Z",
    "next_session": "2026-11-24T15:00:00Z",
    "attendance_rate_30d": 0.5,
}


EXAMPLES: dict[str, list[OpenApiExample]] = {
    # plans
    "plans_list": [response(PLAN)],
    "plan_create": [request(_PLAN_FIELDS), response(PLAN)],
    "plan_retrieve": [response(PLAN)],
    "plan_update": [request(_PLAN_FIELDS), response(PLAN)],
    "plan_partial_update": [request({"coping_strategies": PLAN["coping_strategies"]}), response(PLAN)],
    "plan_activate": [request({"date": "2026-09-01"}), response(PLAN)],
    "plan_complete": [request({"date": "2026-11-30"}), response(COMPLETED_PLAN)],
    "plan_discontinue": [request({"date": "2026-11-30"}), response(DISCONTINUED_PLAN)],
    # appointments and series
    "appointments_list": [response(APPOINTMENT)],
    "appointment_book": [request(_BOOKING), response(APPOINTMENT)],
    "appointment_retrieve": [response(APPOINTMENT)],
    "appointment_move": [
        request({"starts_at": "2026-11-25T11:00:00-05:00", "ends_at": "2026-11-25T11:50:00-05:00"}),
        response(MOVED_APPOINTMENT),
    ],
    # A list that is not paginated is shown by one of its items (drf-spectacular wraps it).
    "appointment_attendance_list": [response(ATTENDANCE_HISTORY[1])],
    "attendance_record": [request({"status": "attended"}), response(ATTENDED_APPOINTMENT)],
    "appointment_series_list": [response(SERIES)],
    "appointment_series_create": [request(_SERIES_FIELDS), response(SERIES)],
    "appointment_series_retrieve": [response(SERIES)],
    "appointment_series_partial_update": [
        request({"local_start_time": "10:00:00", "location": "Room 3"}),
        response(SERIES),
    ],
    "appointment_series_end": [request({"ended_on": "2027-01-31"}), response(ENDED_SERIES)],
    # groups
    "support_groups_list": [response(GROUP)],
    "support_group_create": [request(_GROUP_FIELDS), response(GROUP)],
    "support_group_retrieve": [response(GROUP)],
    "support_group_partial_update": [request({"location": "Community room"}), response(GROUP)],
    "support_group_members_list": [response(MEMBERSHIP)],
    "group_membership_add": [request({"patient": PATIENT_ID, "joined_on": "2026-09-08"}), response(MEMBERSHIP)],
    "group_membership_end": [request({"patient": PATIENT_ID, "left_on": "2026-11-30"}), response(ENDED_MEMBERSHIP)],
    "group_sessions_list": [response(SESSION)],
    "group_session_create": [request(_SESSION_FIELDS), response(SESSION)],
    "group_session_retrieve": [response(SESSION)],
    "group_session_attendance_list": [response(GROUP_ATTENDANCE[0])],
    "group_attendance_record": [
        request(
            {
                "attendance": [
                    {"patient": PATIENT_ID, "status": "attended"},
                    {"patient": SECOND_PATIENT_ID, "status": "missed"},
                ]
            }
        ),
        response(GROUP_ATTENDANCE[0]),
    ],
    "outside_meetings_list": [response(MEETING)],
    "outside_meeting_record": [request(_MEETING_FIELDS), response(MEETING)],
    "outside_meeting_retrieve": [response(MEETING)],
    # flags
    "flags_list": [response(FLAG)],
    "flag_retrieve": [response(FLAG_DETAIL)],
    "flag_acknowledge": [request({"note": "Calling today."}), response(ACKNOWLEDGED_FLAG)],
    "flag_resolve": [request({"note": RESOLVE_NOTE}), response(_closed("resolved", RESOLVE_NOTE))],
    "flag_dismiss": [request({"note": DISMISS_NOTE}), response(_closed("dismissed", DISMISS_NOTE))],
    "risk_rules_list": [response(RISK_RULE)],
    "risk_rule_retrieve": [response(RISK_RULE)],
    "risk_rule_update": [request({"thresholds": {"medium_days": 21}}), response(TUNED_RISK_RULE)],
    # outreach and reminders
    "outreach_attempts_list": [response(OUTREACH)],
    "outreach_attempt_record": [request(_OUTREACH_FIELDS), response(OUTREACH)],
    "outreach_attempt_retrieve": [response(OUTREACH)],
    "reminders_list": [response(REMINDER)],
    "reminder_retrieve": [response(REMINDER)],
    # clinical records
    **_record_examples(
        "care_transition", "care_transitions", _TRANSITION_FIELDS, TRANSITION, {"level_of_care": "inpatient"}
    ),
    **_record_examples(
        "medication_event", "medication_events", _MEDICATION_EVENT_FIELDS, MEDICATION_EVENT, {"days_covered": 6}
    ),
    **_record_examples("drug_screen", "drug_screens", _DRUG_SCREEN_FIELDS, DRUG_SCREEN, {"panel": "12-panel"}),
    "check_ins_list": [response(CHECK_IN)],
    "check_in_retrieve": [response(CHECK_IN)],
    # dashboard
    "dashboard_summary": [response(SUMMARY)],
    "caseload_list": [response(CASELOAD_ENTRY)],
}
