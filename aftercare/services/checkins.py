"""Check-ins: made when due, sent once, expired when their link runs out, answered once, and
cancelled when the patient opts out.

A patient gets check-ins while they are active, have an email, said yes (`checkins_opt_in`) and
have an active plan with `checkin_every_days` above 0. One falls due `checkin_every_days` after the
last one (or after the plan's start), never while another is open (a partial unique index), and
goes out at `AFTERCARE_CHECKIN_SEND_HOUR` on the clinic's local clock, or when its quiet hours end.

Sending is claimed as reminders are (aftercare/services/reminder_dispatch): due rows are leased to
one worker with `SELECT … FOR UPDATE SKIP LOCKED`, and every write after the send is conditional
on that lease. A worker that dies while holding rows leaves them claimed; once the lease has run
out they are cancelled as in doubt, never resent: one email per check-in at most.
"""

from __future__ import annotations

import datetime
import logging
import random
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import mail
from django.core.mail.message import make_msgid
from django.core.mail.utils import DNS_NAME
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, QuerySet, Subquery
from django.utils import timezone

from aftercare.checkins.email import CheckInContent, checkin_message
from aftercare.checkins.instrument import VERSION, Answers
from aftercare.checkins.links import checkin_url, link_lifetime, opt_out_url
from aftercare.models import (
    OPEN_CHECKIN_STATUSES,
    AftercarePlan,
    CheckIn,
    CheckInResponse,
    CheckInStatus,
    PlanStatus,
)
from aftercare.reminders.email import InvalidContent
from aftercare.services.reminder_dispatch import is_transient
from aftercare.services.reminders import in_quiet_hours
from aftercare.services.risk import risk_evaluate_after_commit
from clinic.models import Clinic, Patient, PatientStatus

logger = logging.getLogger(__name__)

BATCH_SIZE = 200
MAX_ATTEMPTS = 5
LEASE = datetime.timedelta(minutes=10)
IN_DOUBT = "interrupted while sending; may have been delivered, not resent"
_OPEN = [status.value for status in OPEN_CHECKIN_STATUSES]


def wants_checkins(patient: Patient) -> bool:
    return bool(patient.checkins_opt_in and patient.email and patient.status == PatientStatus.ACTIVE)


def checkin_send_at(*, day: datetime.date, clinic: Clinic, now: datetime.datetime) -> datetime.datetime:
    """When a check-in due on the local `day` goes out: at the send hour that day (or now, if that
    has passed), moved to the end of the clinic's quiet hours if it falls inside them."""
    zone = clinic.zone
    # Through UTC and back, so a wall-clock time inside a DST gap becomes a real instant.
    at = datetime.datetime.combine(day, datetime.time(settings.AFTERCARE_CHECKIN_SEND_HOUR), tzinfo=zone)
    at = max(at.astimezone(datetime.UTC), now)
    start, end = clinic.quiet_hours_start, clinic.quiet_hours_end
    local = at.astimezone(zone)
    if not in_quiet_hours(local.time(), start, end):
        return at
    ends_on = local.date()
    if start > end and local.time() >= start:
        ends_on += datetime.timedelta(days=1)  # the evening before: the quiet hours end tomorrow
    return datetime.datetime.combine(ends_on, end, tzinfo=zone).astimezone(datetime.UTC)


def _due_plans() -> QuerySet[AftercarePlan]:
    """Active plans with check-ins on, of patients who get them and have none open, each with the
    due date of the patient's last check-in (one cancelled before any attempt to send it does not
    count; one that may have gone out does, so an interrupted send is not followed by another)."""
    checkins = CheckIn.objects.filter(patient=OuterRef("patient"))
    return (
        AftercarePlan.objects.filter(
            status=PlanStatus.ACTIVE,
            checkin_every_days__gt=0,
            patient__status=PatientStatus.ACTIVE,
            patient__checkins_opt_in=True,
            clinic__is_active=True,
        )
        .exclude(patient__email="")
        .annotate(
            has_open=Exists(checkins.filter(status__in=_OPEN)),
            last_due=Subquery(
                checkins.exclude(status=CheckInStatus.CANCELLED, attempts=0).order_by("-due_on").values("due_on")[:1]
            ),
        )
        .filter(has_open=False)
        .select_related("clinic")
    )


@transaction.atomic
def checkins_schedule(*, now: datetime.datetime | None = None) -> int:
    """Make the check-ins that are due. Returns how many were made. Safe to run any number of
    times at once: the unique indexes keep one open check-in per patient and one per day."""
    now = now or timezone.now()
    created = 0
    for plan in _due_plans().iterator(chunk_size=500):
        clinic = plan.clinic
        today = now.astimezone(clinic.zone).date()
        every = datetime.timedelta(days=plan.checkin_every_days)
        start = plan.start_date or plan.created_at.astimezone(clinic.zone).date()
        last_due: datetime.date | None = plan.last_due  # type: ignore[attr-defined]
        due_on = last_due + every if last_due is not None else start + every
        if due_on > today:
            continue
        # Overdue (check-ins just turned on, a pause): one check-in today, not one per missed turn.
        checkin = CheckIn(
            clinic=clinic,
            patient_id=plan.patient_id,
            plan=plan,
            due_on=today,
            send_at=checkin_send_at(day=today, clinic=clinic, now=now),
        )
        checkin.full_clean(validate_unique=False, validate_constraints=False)
        try:
            with transaction.atomic():
                checkin.save(force_insert=True)
        except IntegrityError:
            continue  # another pass made it first
        created += 1
    return created


def checkins_expire(*, now: datetime.datetime | None = None) -> int:
    """Sent check-ins whose link has run out become `expired` (the rules read them as unanswered)."""
    now = now or timezone.now()
    return CheckIn.objects.filter(status=CheckInStatus.SENT, expires_at__lte=now).update(status=CheckInStatus.EXPIRED)


def checkins_recover_stuck(*, now: datetime.datetime | None = None) -> int:
    """Rows of a worker that stopped while holding them: whether their email went is unknown, so
    they are cancelled, never resent (the next check-in comes on schedule)."""
    now = now or timezone.now()
    in_doubt = CheckIn.objects.filter(status=CheckInStatus.SCHEDULED, claimed_until__lte=now).update(
        status=CheckInStatus.CANCELLED, claimed_until=None, last_error=IN_DOUBT
    )
    if in_doubt:
        logger.warning("%d check-ins interrupted while sending: cancelled, not resent", in_doubt)
    return in_doubt


def checkins_claim(*, now: datetime.datetime, batch_size: int = BATCH_SIZE) -> list[CheckIn]:
    """Lease up to `batch_size` due check-ins to this worker. Each returned row carries its lease in
    `claimed_until`: every later write about it is conditional on it."""
    lease = now + LEASE
    with transaction.atomic():
        ids = list(
            CheckIn.objects.select_for_update(skip_locked=True)
            .filter(status=CheckInStatus.SCHEDULED, send_at__lte=now, claimed_until__isnull=True)
            .order_by("send_at")
            .values_list("pk", flat=True)[:batch_size]
        )
        # Counted as an attempt from the claim on: a row this worker never settles may have gone out.
        CheckIn.objects.filter(pk__in=ids).update(claimed_until=lease, attempts=F("attempts") + 1)
    return list(
        CheckIn.objects.filter(pk__in=ids, status=CheckInStatus.SCHEDULED, claimed_until=lease)
        .select_related("clinic", "patient", "plan")
        .order_by("send_at", "pk")
    )


def content_for(checkin: CheckIn) -> CheckInContent:
    clinic, patient = checkin.clinic, checkin.patient
    return CheckInContent(
        clinic_name=clinic.public_name,
        clinic_phone=clinic.phone,
        recipient=patient.email,
        language=patient.preferred_language,
        checkin_url=checkin_url(checkin.pk),
        opt_out_url=opt_out_url(patient.pk),
        link_hours=int(link_lifetime().total_seconds() // 3600),
        sender_name=clinic.reminder_sender_name or clinic.public_name,
    )


@dataclass
class DispatchResult:
    sent: int = 0
    retried: int = 0
    cancelled: int = 0
    lost: int = 0  # taken over (or cancelled) by someone else while this worker held it


def _settle(checkin: CheckIn, **fields: Any) -> bool:
    """Write the outcome, if the row is still this worker's."""
    return (
        CheckIn.objects.filter(
            pk=checkin.pk, status=CheckInStatus.SCHEDULED, claimed_until=checkin.claimed_until
        ).update(claimed_until=None, **fields)
        == 1
    )


def _backoff(attempts: int) -> datetime.timedelta:
    # Exponential with jitter: a provider outage is not hit by every row at the same second.
    return datetime.timedelta(seconds=min(3600, 60 * 2 ** (attempts - 1)) * random.uniform(0.8, 1.2))  # noqa: S311


def _deliver(checkin: CheckIn, *, now: datetime.datetime, connection: Any, result: DispatchResult) -> None:
    plan = checkin.plan
    if not wants_checkins(checkin.patient) or plan.status != PlanStatus.ACTIVE or plan.checkin_every_days == 0:
        result.cancelled += _settle(checkin, status=CheckInStatus.CANCELLED)
        return
    attempts = checkin.attempts  # this one included (counted at the claim)
    try:
        message = checkin_message(content_for(checkin), connection=connection)
        message.extra_headers["Message-ID"] = make_msgid(domain=DNS_NAME)
        sent_at = timezone.now()
        message.send()
    except InvalidContent as exc:
        # Our own refusal names the field, never its value.
        logger.warning("check-in %s not sent: %s", checkin.pk, exc)
        result.cancelled += _settle(checkin, status=CheckInStatus.CANCELLED, last_error=str(exc))
    except Exception as exc:
        error = type(exc).__name__  # the class only: an exception's text may quote the address
        if is_transient(exc) and attempts < MAX_ATTEMPTS:
            result.retried += _settle(checkin, send_at=now + _backoff(attempts), last_error=error)
        else:
            logger.warning("check-in %s not sent: %s", checkin.pk, error)
            result.cancelled += _settle(checkin, status=CheckInStatus.CANCELLED, last_error=error)
    else:
        settled = _settle(
            checkin,
            status=CheckInStatus.SENT,
            sent_at=sent_at,
            expires_at=sent_at + link_lifetime(),
            provider_message_id=str(message.extra_headers.get("Message-ID", ""))[:200],
            last_error="",
        )
        if settled:
            result.sent += 1
        else:
            # Cancelled while it was being sent (an opt-out): the link it carries is refused.
            result.lost += 1


def checkins_dispatch(*, now: datetime.datetime | None = None, connection: Any = None) -> DispatchResult:
    """Send every due check-in, batch by batch, on one connection."""
    now = now or timezone.now()
    result = DispatchResult()
    with connection or mail.get_connection(fail_silently=False) as open_connection:
        while True:
            claimed = checkins_claim(now=now)
            for checkin in claimed:
                _deliver(checkin, now=now, connection=open_connection, result=result)
            if len(claimed) < BATCH_SIZE:
                return result


@dataclass(frozen=True)
class RunResult:
    expired: int
    in_doubt: int
    scheduled: int
    sent: int
    retried: int
    cancelled: int


def checkins_run(*, now: datetime.datetime | None = None, connection: Any = None) -> RunResult:
    """The beat's pass: expire, settle stuck rows, make what is due, send what is due."""
    now = now or timezone.now()
    expired = checkins_expire(now=now)
    in_doubt = checkins_recover_stuck(now=now)
    scheduled = checkins_schedule(now=now)
    dispatched = checkins_dispatch(now=now, connection=connection)
    return RunResult(
        expired=expired,
        in_doubt=in_doubt,
        scheduled=scheduled,
        sent=dispatched.sent,
        retried=dispatched.retried,
        cancelled=dispatched.cancelled,
    )


class CheckInClosed(Exception):
    """The check-in cannot take an answer. `reason`: "unknown", "answered", "expired" or "closed"
    (cancelled, not sent, or the patient opted out). Never says anything about the patient."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def checkin_open_or_raise(checkin: CheckIn | None, *, now: datetime.datetime) -> CheckIn:
    """`checkin`, if it can take an answer now; otherwise CheckInClosed with the reason."""
    if checkin is None:
        raise CheckInClosed("unknown")
    if checkin.status == CheckInStatus.ANSWERED:
        raise CheckInClosed("answered")
    if checkin.status == CheckInStatus.EXPIRED or (
        checkin.status == CheckInStatus.SENT and checkin.expires_at is not None and checkin.expires_at <= now
    ):
        raise CheckInClosed("expired")
    if checkin.status != CheckInStatus.SENT or not wants_checkins(checkin.patient):
        raise CheckInClosed("closed")
    return checkin


@transaction.atomic
def checkin_answer(*, checkin_id: uuid.UUID, answers: Answers, now: datetime.datetime | None = None) -> CheckInResponse:
    """Store the answers to the check-in `checkin_id` (the one the signed link names, and only
    it), once. The row is locked while it is answered, so two submissions of one link store one
    answer. A patient who opted out (or is no longer active) has their answer refused, not kept.
    A risk evaluation of the patient is queued after the commit."""
    now = now or timezone.now()
    locked = CheckIn.objects.select_for_update(of=("self",)).select_related("patient").filter(pk=checkin_id).first()
    checkin = checkin_open_or_raise(locked, now=now)
    response = CheckInResponse(
        checkin=checkin,
        clinic_id=checkin.clinic_id,
        patient_id=checkin.patient_id,
        instrument=VERSION,
        answered_at=now,
        use_days=answers.use_days,
        craving=answers.craving,
        sleep_trouble_days=answers.sleep_trouble_days,
        low_mood_days=answers.low_mood_days,
        anxious_days=answers.anxious_days,
        angry_days=answers.angry_days,
        confidence=answers.confidence,
        support=answers.support,
        meeting_days=answers.meeting_days,
        wants_call=answers.wants_call,
        risk_score=answers.risk_score,
        protective_score=answers.protective_score,
    )
    response.full_clean(validate_unique=False, validate_constraints=False)
    response.save(force_insert=True)
    checkin.status = CheckInStatus.ANSWERED
    checkin.answered_at = now
    checkin.save(update_fields=["status", "answered_at", "updated_at"])
    risk_evaluate_after_commit([checkin.patient_id])
    return response


def checkins_sync_patient(*, patient: Patient) -> int:
    """After a patient's check-in opt-in, email or status changed: when they no longer get
    check-ins, their open ones are cancelled (a sent link stops working). Returns rows cancelled."""
    if wants_checkins(patient):
        return 0
    return CheckIn.objects.filter(patient=patient, status__in=_OPEN).update(
        status=CheckInStatus.CANCELLED, claimed_until=None
    )


@transaction.atomic
def patient_checkins_opt_out(*, patient: Patient) -> bool:
    """Stop check-ins for `patient` (reminders are another choice, untouched). Returns True if this
    changed anything, False if they were already out."""
    locked = Patient.objects.select_for_update().get(pk=patient.pk)
    patient.checkins_opt_in = False
    if not locked.checkins_opt_in:
        return False
    locked.checkins_opt_in = False
    locked.save(update_fields=["checkins_opt_in", "updated_at"])
    checkins_sync_patient(patient=locked)
    patient.updated_at = locked.updated_at
    return True
