"""What staff do with a flag (acknowledge, resolve, dismiss), and the email about a high one."""

from __future__ import annotations

import datetime
import logging
from typing import Any

from django.conf import settings
from django.core import mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from rest_framework.exceptions import ValidationError

from aftercare.models import ACTIVE_FLAG_STATUSES, FlagEventKind, FlagStatus, RiskFlag, RiskFlagEvent, Severity
from clinic.auth.caller import Caller
from clinic.errors import Conflict
from clinic.models import User
from clinic.selectors.patients import care_staff_list, clinic_admin_list

logger = logging.getLogger(__name__)

_TRANSITIONS = {
    FlagEventKind.ACKNOWLEDGED: (FlagStatus.OPEN,),
    FlagEventKind.RESOLVED: ACTIVE_FLAG_STATUSES,
    FlagEventKind.DISMISSED: ACTIVE_FLAG_STATUSES,
}
_TARGET = {
    FlagEventKind.ACKNOWLEDGED: FlagStatus.ACKNOWLEDGED,
    FlagEventKind.RESOLVED: FlagStatus.RESOLVED,
    FlagEventKind.DISMISSED: FlagStatus.DISMISSED,
}


@transaction.atomic
def flag_transition(
    *, flag: RiskFlag, kind: FlagEventKind, by: Caller, note: str = "", now: datetime.datetime | None = None
) -> RiskFlag:
    """open → acknowledged → resolved or dismissed (a note is required to close a flag)."""
    now = now or timezone.now()
    locked = RiskFlag.objects.select_for_update().get(pk=flag.pk)
    if locked.status not in _TRANSITIONS[kind]:
        raise Conflict({"status": f"This flag is {locked.status}: it cannot be {kind}."})
    note = note.strip()
    if kind != FlagEventKind.ACKNOWLEDGED and not note:
        raise ValidationError({"note": f"Say why the flag is {kind}."})
    locked.status = _TARGET[kind]
    if kind == FlagEventKind.ACKNOWLEDGED:
        locked.acknowledged_at, locked.acknowledged_by, locked.acknowledged_by_client = now, by.user, by.client
    else:
        locked.closed_at, locked.closed_by, locked.closed_by_client = now, by.user, by.client
        locked.resolution_note = note
    locked.save()
    RiskFlagEvent.objects.create(
        flag=locked,
        kind=kind,
        severity=locked.severity,
        evidence=locked.evidence,
        condition_met=locked.condition_met,
        at=now,
        by=by.user,
        by_client=by.client,
        note=note,
    )
    return locked


def _recipients(flag: RiskFlag) -> list[User]:
    """The patient's assigned clinician while they are an active clinician, case manager or admin
    of the flag's clinic; otherwise that clinic's active admins (someone must know). Never a user
    whose membership ended, nor anyone of another clinic."""
    clinician_id = flag.patient.assigned_clinician_id
    if clinician_id is not None:
        clinician = care_staff_list(clinic=flag.clinic).filter(pk=clinician_id).exclude(email="").first()
        if clinician is not None:
            return [clinician]
    return list(clinic_admin_list(clinic=flag.clinic).exclude(email="").order_by("pk"))


def _message(flag: RiskFlag, user: User, connection: Any) -> mail.EmailMultiAlternatives:
    # No patient name, rule or detail: a staff inbox is read on phones and shared screens too.
    # The flag's page in the dashboard (signed out, the sign-in page comes first, then this page).
    link = settings.AFTERCARE_PUBLIC_URL + reverse("dashboard:flag", kwargs={"flag_id": flag.pk})
    text = (
        "A patient you care for has a new high-priority flag that needs a look today.\n\n"
        f"Sign in to review it: {link}\n"
    )
    message = mail.EmailMultiAlternatives(
        subject="A high-priority flag needs your review",
        body=text,
        to=[user.email],
        connection=connection,
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(
        format_html(
            "<p>A patient you care for has a new high-priority flag that needs a look today.</p>"
            '<p><a href="{}">Sign in to review it</a></p>',
            link,
        ),
        "text/html",
    )
    return message


def flags_notify(*, flag_ids: list[Any], now: datetime.datetime | None = None) -> int:
    """Email about each high flag once: the claim (`notified_at`) and the send share a transaction,
    so a redelivered task or a second worker finds it already claimed."""
    now = now or timezone.now()
    sent = 0
    connection = mail.get_connection(fail_silently=False)
    for flag_id in flag_ids:
        with transaction.atomic():
            claimed = RiskFlag.objects.filter(
                pk=flag_id, severity=Severity.HIGH, status__in=ACTIVE_FLAG_STATUSES, notified_at__isnull=True
            ).update(notified_at=now)
            if not claimed:
                continue
            flag = RiskFlag.objects.select_related("patient", "clinic").get(pk=flag_id)
            recipients = _recipients(flag)
            if not recipients:
                logger.warning("flag %s: nobody to notify", flag.pk)
            connection.send_messages([_message(flag, user, connection) for user in recipients])
            sent += len(recipients)
    return sent
