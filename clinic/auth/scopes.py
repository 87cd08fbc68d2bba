"""One vocabulary of permissions for everyone who calls the API.

Integration clients are granted scopes explicitly. Staff get the scopes of their role in the clinic
they act for, so one permission check (`HasScope`) serves both.
"""

from __future__ import annotations

from typing import Any

from oauth2_provider.scopes import BaseScopes

from clinic.models import Role

SCOPES: dict[str, str] = {
    "patients:read": "Read the patient registry",
    "patients:write": "Create and update patients",
    "plans:read": "Read aftercare plans (clinical detail)",
    "plans:write": "Create and change aftercare plans",
    "schedule:read": "Read appointments, series and support groups",
    "schedule:write": "Book, move and cancel appointments and group sessions",
    "attendance:write": "Record attendance",
    "flags:read": "Read risk flags",
    "flags:write": "Acknowledge, resolve and dismiss risk flags",
    "checkins:read": "Read patients' check-ins and their answers (craving, mood, use: clinical detail)",
    "rules:write": "Turn the clinic's risk rules on or off and tune their thresholds",
    "outreach:read": "Read the outreach log: attempts to reach patients",
    "outreach:write": "Log attempts to reach patients",
    "transitions:read": "Read care transitions: steps into and out of aftercare, and from which level of care",
    "transitions:write": "Record care transitions and mark them entered in error",
    "medication:read": "Read medication-assisted treatment events (doses, take-homes, injections, missed doses)",
    "medication:write": "Record medication-assisted treatment events and mark them entered in error",
    "screens:read": "Read drug screens and their results",
    "screens:write": "Record drug screens with their results and mark them entered in error",
    "consents:read": "Read patients' consents to disclose and the accounting of their disclosures",
    "consents:write": "Record and revoke patients' consents to disclose",
    "disclosures:write": (
        "Release a patient's records to the recipient a consent names (also needs the read scope of "
        "each category released)"
    ),
    "audit:read": "Read the access log: who read or changed which records",
    "staff:read": "Read the staff directory: names, roles and the EHR's provider ids (whom to book with)",
}

ALL_SCOPES = frozenset(SCOPES)
_READ_SCOPES = frozenset(scope for scope in SCOPES if scope.endswith(":read"))

ROLE_SCOPES: dict[str, frozenset[str]] = {
    Role.ADMIN: ALL_SCOPES,
    # Care staff read and change records; the access log is for admins and auditors, and the
    # clinic's risk rules are the admins' to tune.
    Role.CLINICIAN: ALL_SCOPES - {"audit:read", "rules:write"},
    Role.CASE_MANAGER: ALL_SCOPES - {"audit:read", "rules:write"},
    # Scheduling and attendance only: no flags or outreach, no clinical detail (care transitions,
    # medication events, drug screens), no consents or releases.
    # Booking means choosing a clinician, hence the staff directory.
    Role.FRONT_DESK: frozenset({"patients:read", "schedule:read", "schedule:write", "attendance:write", "staff:read"}),
    Role.AUDITOR: _READ_SCOPES,
}


def unknown_scopes(scopes: list[str] | set[str] | tuple[str, ...]) -> list[str]:
    return sorted(set(scopes) - ALL_SCOPES)


class ClientScopes(BaseScopes):
    """django-oauth-toolkit scopes backend: a client may only ask for the scopes it was given.

    A token request without `scope` gets all of them.
    """

    def get_all_scopes(self) -> dict[str, str]:
        return SCOPES

    def get_available_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        client = getattr(application, "integration_client", None) if application is not None else None
        if client is None or not client.is_active or not client.clinic.is_active:
            return []
        return [scope for scope in client.scopes if scope in SCOPES]

    def get_default_scopes(self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any) -> list[str]:
        return self.get_available_scopes(application, request, *args, **kwargs)
