"""A caseload: the patients a clinician (or the whole clinic) follows, most at risk first.

Three statements whatever the caseload's size: one ranks the patients (hashed joins to their open
flags and to the risk summary, so ranking a whole clinic stays cheap and the planner's estimate
stays low enough not to compile it; run it inside `hashed_ranking()`, so stale statistics cannot
turn the joins into loops), one reads what the rows shown display (correlated subqueries, for
those rows only), one their open flags. The API's `dashboard/caseload/` and the
dashboard's caseload page both read it from here, and page it by the same keyset cursor.

Who is on a caseload: every active patient, every discharged patient the `post_discharge_gap` rule
still watches (the same window the risk engine uses: the clinic's `watch_days`, counted in clinic
days from the discharge date; nobody when the clinic turned the rule off), and anyone with an open
or acknowledged flag, whatever their status, since someone has to close it.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connections, router, transaction
from django.db.models import (
    Case,
    Count,
    DateField,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    FilteredRelation,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, TruncDate
from django.utils import timezone

from aftercare.models import (
    ACTIVE_FLAG_STATUSES,
    SEVERITY_RANK,
    Appointment,
    AttendanceStatus,
    GroupAttendance,
    GroupSession,
    RiskFlag,
    RiskRule,
    RiskRuleSetting,
)
from aftercare.models.outcomes import APPOINTMENT_OUTCOMES, GROUP_OUTCOMES, Outcome, statuses
from aftercare.risk.rules import RULES
from aftercare.risk.wording import flag_reason
from clinic.models import Clinic, Patient, PatientStatus

# What counts as attended and missed: the project's one definition (aftercare/models/outcomes.py).
ATTENDED = statuses(APPOINTMENT_OUTCOMES, Outcome.ATTENDED)
MISSED = statuses(APPOINTMENT_OUTCOMES, Outcome.MISSED)
GROUP_ATTENDED = statuses(GROUP_OUTCOMES, Outcome.ATTENDED)
GROUP_MISSED = statuses(GROUP_OUTCOMES, Outcome.MISSED)
WINDOW = datetime.timedelta(days=30)

# The risk filter: a severity, or "none" for patients without an open flag.
NO_RISK = "none"
RISK_LEVELS = {severity.value: rank for severity, rank in SEVERITY_RANK.items()} | {NO_RISK: 0}
_RANK_TO_SEVERITY = {rank: severity.value for severity, rank in SEVERITY_RANK.items()}


# What `caseload_list` reads of each patient: the text keys of its order (a cursor reads them).
RANKED_FIELDS = ("id", "family_name", "given_name")


def _scalar(queryset: QuerySet[Any], output: Any) -> Subquery:
    return Subquery(queryset[:1], output_field=output)


def _count(queryset: QuerySet[Any]) -> Coalesce:
    counted = queryset.order_by().values("patient_id").annotate(n=Count("pk")).values("n")
    return Coalesce(_scalar(counted, IntegerField()), Value(0))


def attendance_rate(attended: int, missed: int) -> float | None:
    return round(attended / (attended + missed), 3) if attended + missed else None


def watched_after_discharge(clinic: Clinic, today: datetime.date) -> Q:
    """Discharged patients `post_discharge_gap` still watches on the clinic-local date `today`:
    as the engine decides it (`today - discharge_date <= watch_days`, the clinic's threshold or
    the rule's default; the rule switched off watches nobody), in SQL, so it costs no query."""
    rule = RULES[RiskRule.POST_DISCHARGE_GAP]
    setting = RiskRuleSetting.objects.filter(clinic=clinic, rule=rule.code)
    own = setting.annotate(days=Cast(KeyTextTransform("watch_days", "thresholds"), IntegerField())).values("days")
    watch_days = Coalesce(_scalar(own, IntegerField()), Value(rule.thresholds["watch_days"].default))
    since = ExpressionWrapper(Value(today, output_field=DateField()) - watch_days, output_field=DateField())
    return Q(
        Q(status=PatientStatus.DISCHARGED, discharge_date__isnull=False, discharge_date__gte=since),
        ~Exists(setting.filter(enabled=False)),
    )


@contextmanager
def hashed_ranking() -> Iterator[None]:
    """Rank (evaluate a `caseload_list`) with the planner's nested loops off, as the risk engine
    does for the same reason.

    The ranking is meant to hash its joins: every patient of the caseload meets their open flags
    and their risk summary once. A table whose statistics lag its rows (the summaries analysed
    while the table was empty, a bulk assignment of patients not yet analysed) passes for a
    one-row table, and the planner then loops over it for every patient instead: every patient
    compared with every summary, 6 to 13 s for a caseload of 5 000 instead of tens of
    milliseconds. Only this statement: the rows' details are correlated lookups that want their
    loops. One statement more in a transaction of its own (its end ends the setting), two inside
    the caller's transaction (the setting read and set, then put back).

    A refusal raised while ranking (a cursor or page size that does not read back) leaves the
    caller's transaction usable and the setting put back: an atomic block of this function's own
    inside the caller's would mark the caller's transaction for rollback.
    """
    # On the database the ranking reads (a replica serves the dashboard's pages: clinic.replica),
    # decided before the transaction opens, which would otherwise send the read to the primary.
    alias = router.db_for_read(Patient)
    connection = connections[alias]
    if not connection.in_atomic_block:
        # A transaction of its own, which ends the setting with it (SET LOCAL).
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('enable_nestloop', 'off', true)")
            yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('enable_nestloop'), set_config('enable_nestloop', 'off', true)")
        before = cursor.fetchone()[0]
        failed = False
        try:
            yield
        except DatabaseError:
            failed = True  # the transaction failed: its rollback ends the setting
            raise
        finally:
            if not failed:
                cursor.execute("SELECT set_config('enable_nestloop', %s, true)", [before])


def caseload_list(
    *,
    clinic: Clinic,
    clinician: uuid.UUID | None,
    search: str = "",
    risk: str | None = None,
) -> QuerySet[Patient]:
    """The caseload of `clinician` (a user id; None: the whole clinic), most at risk first:
    highest open severity, then most open flags, then longest since an attended session.

    `search` matches every word against the given name, family name or MRN (`external_id`);
    `risk` keeps one level (`high`, `medium`, `low`, or `none`: no open flag). Each patient comes
    with its sort keys only (`risk_rank`, `open_count`, `last_attended`, the names and the id:
    any other field is deferred), from joins the planner can hash, so ranking a whole clinic
    stays cheap; `caseload_rows` reads the rest for the rows actually shown (a page, or all).
    """
    today = timezone.now().astimezone(clinic.zone).date()
    patients = Patient.objects.filter(clinic=clinic)
    if clinician is not None:
        patients = patients.filter(assigned_clinician_id=clinician)
    patients = patients.alias(
        open_flag=FilteredRelation("risk_flags", condition=Q(risk_flags__status__in=ACTIVE_FLAG_STATUSES))
    ).filter(Q(status=PatientStatus.ACTIVE) | watched_after_discharge(clinic, today) | Q(open_flag__isnull=False))
    for word in search.split():
        patients = patients.filter(
            Q(given_name__icontains=word) | Q(family_name__icontains=word) | Q(external_id__icontains=word)
        )
    ranked = patients.annotate(
        risk_rank=Coalesce(
            Max(Case(*[When(open_flag__severity=sev, then=Value(r)) for sev, r in SEVERITY_RANK.items()])), Value(0)
        ),
        open_count=Count("open_flag"),
        # The last attended appointment or group session, as the risk rules read it (the summary
        # the database keeps for them): one row a patient, joined.
        last_attended=Max("risk_summary__attended_at"),
    )
    if risk is not None:
        ranked = ranked.filter(risk_rank=RISK_LEVELS[risk])
    # The ranking carries what orders it and nothing else: every patient of the caseload goes
    # through the joins and the aggregate, which move a narrow row faster. The rows shown read
    # the rest of the patient (`caseload_rows`).
    return ranked.only(*RANKED_FIELDS).order_by(
        F("risk_rank").desc(),
        F("open_count").desc(),
        F("last_attended").asc(nulls_first=True),
        "family_name",
        "given_name",
        "pk",
    )


def _details(ids: list[Any], *, clinic: Clinic, now: datetime.datetime) -> dict[Any, Patient]:
    """What a row shows besides its sort keys, for the patients `ids` (one statement, and one
    more for their open flags): the whole patient, next session, and the last 30 days' attendance."""
    mine = {"patient_id": OuterRef("pk")}
    appointments = Appointment.objects.filter(**mine)
    recent = appointments.filter(starts_at__gte=now - WINDOW, starts_at__lte=now)
    groups = GroupAttendance.objects.filter(**mine, session__cancelled=False)
    recent_groups = groups.filter(session__starts_at__gte=now - WINDOW, session__starts_at__lte=now)
    # The sessions of the groups the patient belongs to, on a day they are (still) a member.
    member_sessions = (
        GroupSession.objects.annotate(day=TruncDate("starts_at", tzinfo=clinic.zone))
        .filter(
            Q(group__memberships__left_on__isnull=True) | Q(group__memberships__left_on__gte=F("day")),
            group__memberships__patient_id=OuterRef("pk"),
            group__memberships__joined_on__lte=F("day"),
            cancelled=False,
            starts_at__gt=now,
        )
        .order_by("starts_at")
        .values("starts_at")
    )
    patients = (
        Patient.objects.filter(clinic=clinic, pk__in=ids)
        .annotate(
            next_appointment=_scalar(
                appointments.filter(starts_at__gt=now, attendance_status=AttendanceStatus.SCHEDULED)
                .order_by("starts_at")
                .values("starts_at"),
                DateTimeField(),
            ),
            next_group=_scalar(member_sessions, DateTimeField()),
            attended_30d=_count(recent.filter(attendance_status__in=ATTENDED))
            + _count(recent_groups.filter(status__in=GROUP_ATTENDED)),
            missed_30d=_count(recent.filter(attendance_status__in=MISSED))
            + _count(recent_groups.filter(status__in=GROUP_MISSED)),
        )
        .prefetch_related(
            Prefetch(
                "risk_flags",
                queryset=RiskFlag.objects.filter(status__in=ACTIVE_FLAG_STATUSES).order_by("-raised_at"),
                to_attr="active_flags",
            )
        )
    )
    return {patient.pk: patient for patient in patients}


@dataclass(frozen=True)
class CaseloadRow:
    """One patient on a caseload, as staff read it."""

    patient: Patient
    risk: str | None  # the highest open severity
    open_flags: list[RiskFlag]
    top_flag: RiskFlag | None
    reason: str  # the top flag's reason in words, with clinic-local dates
    last_attended: datetime.datetime | None
    next_session: datetime.datetime | None
    next_is_group: bool
    attended_30d: int
    missed_30d: int

    @property
    def attendance_rate_30d(self) -> float | None:
        return attendance_rate(self.attended_30d, self.missed_30d)

    @property
    def sessions_30d(self) -> int:
        return self.attended_30d + self.missed_30d

    @property
    def attendance_percent(self) -> int | None:
        rate = self.attendance_rate_30d
        return None if rate is None else round(rate * 100)


def _top(flags: list[RiskFlag]) -> RiskFlag | None:
    return max(flags, key=lambda flag: (SEVERITY_RANK.get(flag.severity, 0), flag.raised_at), default=None)  # type: ignore[call-overload]


def caseload_rows(
    patients: Iterable[Patient], *, clinic: Clinic, now: datetime.datetime | None = None
) -> list[CaseloadRow]:
    """Rows for patients from `caseload_list` (a page of them, or all), in their order, with the
    reasons dated in the clinic's time zone: two more statements whatever their number."""
    ranked = list(patients)
    details = _details([patient.pk for patient in ranked], clinic=clinic, now=now or timezone.now())
    rows = []
    for patient in ranked:
        detail = details[patient.pk]
        flags: list[RiskFlag] = getattr(detail, "active_flags", [])
        top = _top(flags)
        next_appointment, next_group = detail.next_appointment, detail.next_group  # type: ignore[attr-defined]
        next_session = min((m for m in (next_appointment, next_group) if m is not None), default=None)
        rows.append(
            CaseloadRow(
                patient=detail,  # the whole patient: the ranking read its sort keys only
                risk=_RANK_TO_SEVERITY.get(patient.risk_rank),  # type: ignore[attr-defined]
                open_flags=flags,
                top_flag=top,
                reason=flag_reason(top.rule, top.evidence, clinic.zone) if top is not None else "",
                last_attended=patient.last_attended,  # type: ignore[attr-defined]
                next_session=next_session,
                next_is_group=next_session is not None and next_session != next_appointment,
                attended_30d=detail.attended_30d,  # type: ignore[attr-defined]
                missed_30d=detail.missed_30d,  # type: ignore[attr-defined]
            )
        )
    return rows
