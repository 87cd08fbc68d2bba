"""`/api/v1/patients/{patient_id}/consents/` and `/api/v1/patients/{patient_id}/disclosures/`:
consents to disclose, their revocation, releases under them and the accounting of disclosures
(42 CFR Part 2 §2.31, §2.32)."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from clinic.api.filters import FilterBackend, StrictFilterSet, UpdatedSinceFilter
from clinic.api.idempotency import idempotent
from clinic.api.serializers import CalendarDateField, StrictCharField, StrictTextField
from clinic.api.views import ClinicScopedViewSet
from clinic.models import (
    CONSENT_CATEGORY_CHOICES,
    CONSENT_STATES,
    REDISCLOSURE_NOTICE,
    Clinic,
    Consent,
    Disclosure,
    DisclosureCategory,
    Language,
    Patient,
    PatientStatus,
    RecipientKind,
)
from clinic.models.access import AccessAction
from clinic.releases import CATEGORY_READ_SCOPES
from clinic.selectors.consents import consent_list, disclosure_list
from clinic.selectors.patients import patient_list
from clinic.services.consents import consent_record, consent_revoke, disclosure_release

_MAX_CATEGORIES = 20


def _categories(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(child=serializers.ChoiceField(choices=DisclosureCategory.choices), **kwargs)


class ConsentInputSerializer(serializers.Serializer[Any]):
    recipient_name = StrictCharField(max_length=200, help_text="The person or organisation that may receive.")
    recipient_kind = serializers.ChoiceField(
        choices=RecipientKind.choices,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="What kind of recipient it is, if known; read back as null when not given.",
    )
    purpose = StrictTextField(max_length=1000, help_text="Why the records may be disclosed (§2.31(a)(5)).")
    categories = serializers.ListField(
        child=serializers.ChoiceField(choices=CONSENT_CATEGORY_CHOICES),
        min_length=1,
        max_length=_MAX_CATEGORIES,
        help_text=(
            "What may be disclosed. `all` is stored as the categories that exist on the day the consent "
            "is recorded (never those added later) and needs `expires_on`."
        ),
    )
    expires_on = CalendarDateField(
        required=False,
        allow_null=True,
        help_text=(
            "The last day on which the consent holds (inclusive), a day of the clinic's calendar: "
            "not in the past, not before `signed_on`. This or `expiry_event` is required."
        ),
    )
    expiry_event = StrictTextField(
        max_length=500,
        required=False,
        allow_blank=True,
        help_text="The event or condition on which the consent ends (e.g. 'end of probation'), if not a date.",
    )
    signed_on = CalendarDateField(
        future=datetime.timedelta(0),
        help_text="The day the patient signed (clinic's calendar): not in the future, not before their birth.",
    )


class ConsentSerializer(serializers.ModelSerializer[Consent]):
    categories = _categories(read_only=True)
    state = serializers.SerializerMethodField(
        help_text="`active` until revoked or until the clinic's calendar is past `expires_on`."
    )

    class Meta:
        model = Consent
        fields = [
            "id",
            "patient",
            "recipient_name",
            "recipient_kind",
            "purpose",
            "categories",
            "expires_on",
            "expiry_event",
            "signed_on",
            "state",
            "recorded_by",
            "recorded_at",
            "revoked_at",
            "revoked_by",
            "revocation_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=CONSENT_STATES))
    def get_state(self, consent: Consent) -> str:
        if consent.revoked_at is not None:
            return "revoked"
        return "expired" if consent.is_expired(self.context["today"]) else "active"


class RevokeSerializer(serializers.Serializer[Any]):
    reason = StrictTextField(max_length=1000, help_text="Why the consent is revoked (e.g. 'patient withdrew').")


_DISCLOSURE_FIELDS = [
    "id",
    "patient",
    "consent",
    "recipient_name",
    "purpose",
    "categories",
    "released_by",
    "released_at",
    "notice",
    "content_sha256",
    "created_at",
    "updated_at",
]


class ReleasedDisclosureSerializer(serializers.ModelSerializer[Disclosure]):
    """The disclosure as it goes with the data: without what was withheld, which would itself tell
    the recipient that the patient has records in a category they may not see."""

    categories = _categories(read_only=True)

    class Meta:
        model = Disclosure
        fields = _DISCLOSURE_FIELDS
        read_only_fields = fields


class DisclosureSerializer(ReleasedDisclosureSerializer):
    """The accounting's entry, for the clinic."""

    withheld = serializers.DictField(
        child=serializers.IntegerField(min_value=1),
        read_only=True,
        help_text=(
            "Per released category, how many items were left out because they also belong to a category "
            "not released (medication visits in `attendance`, MAT activities in `plan`, flags in `risk_flags`). "
            "Never part of the release itself."
        ),
    )

    class Meta(ReleasedDisclosureSerializer.Meta):
        fields = [*_DISCLOSURE_FIELDS, "withheld"]
        read_only_fields = fields


class DisclosureInputSerializer(serializers.Serializer[Any]):
    consent = serializers.UUIDField(help_text="The consent the release is made under.")
    recipient_name = StrictCharField(max_length=200, help_text="Who receives: must be the recipient the consent names.")
    categories = _categories(
        min_length=1,
        max_length=_MAX_CATEGORIES,
        help_text="What to release: each must be covered by the consent, and the caller must hold its read scope.",
    )


class DemographicsSerializer(serializers.Serializer[Any]):
    external_id = StrictCharField(allow_null=True)
    given_name = StrictCharField()
    family_name = StrictCharField()
    date_of_birth = serializers.DateField()
    email = StrictCharField(allow_blank=True)
    phone = StrictCharField(allow_blank=True)
    preferred_language = serializers.ChoiceField(choices=Language.choices)


class EnrollmentSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=PatientStatus.choices)
    intake_date = serializers.DateField()
    discharge_date = serializers.DateField(allow_null=True)
    care_transitions = serializers.JSONField(
        required=False,
        help_text=(
            "[{direction, level_of_care, occurred_on, source}]: care transitions in force (not entered in "
            "error), oldest first; present where the aftercare records are installed."
        ),
    )


# Which categories each risk rule reads is the rules' own business (aftercare.risk.rules), listed in
# the README; `clinic` states the policy.
_FLAG_POLICY = (
    "A flag is drawn from the categories its rule reads (attendance for every rule; also enrollment for "
    "`no_contact` and `post_discharge_gap`, plan for `early_missed`, medication for `medication_missed`, and for "
    "`early_missed` when the patient has a medication start) and from those of every session that was ever its "
    "evidence (a medication visit is `medication` as well as `attendance`). It is released only when every one "
    "of them is released too, and otherwise left out whole, never recomputed."
)


class ReleasedDataSerializer(serializers.Serializer[Any]):
    """One key per released category, and no others."""

    demographics = DemographicsSerializer(required=False)
    enrollment = EnrollmentSerializer(required=False)
    attendance = serializers.JSONField(
        required=False,
        help_text=(
            "`appointments` [{kind, starts_at, ends_at, status}], `group_sessions` [{group_kind, starts_at, "
            "status}], `outside_meetings` [{kind, date}]. Medication visits only if `medication` is released too."
        ),
    )
    plan = serializers.JSONField(
        required=False,
        help_text=(
            "The active (else latest) plan: status, dates, goals, warning signs, triggers, coping strategies, "
            "daily routine, emergency plan, support persons, sponsor, activities other than medication; or null."
        ),
    )
    medication = serializers.JSONField(
        required=False,
        help_text=(
            "`activities` [{medication, dose_schedule, medication_started_on, frequency_count, frequency_period, "
            "provider}], `events` [{medication, kind, occurred_on, days_covered, dose_mg}] (MAT events in force)."
        ),
    )
    drug_screens = serializers.JSONField(
        required=False,
        help_text=(
            "[{collected_on, specimen, panel, results: [{analyte, result, expected}]}]: screens in force "
            "(not entered in error), oldest first."
        ),
    )
    risk_flags = serializers.JSONField(
        required=False,
        help_text=(
            "[{rule, severity, status, raised_at, closed_at}]: only the flags drawn from released categories "
            f"alone. {_FLAG_POLICY}"
        ),
    )
    check_ins = serializers.JSONField(
        required=False,
        help_text=(
            "[{due_on, status, answered_at, instrument, answers: {use_days, craving, sleep_trouble_days, "
            "low_mood_days, anxious_days, angry_days, confidence, support, meeting_days, wants_call}, risk_score, "
            "protective_score}]: every check-in sent, oldest first; `answers` and the scores null when unanswered."
        ),
    )


class ReleaseSerializer(serializers.Serializer[Any]):
    disclosure = ReleasedDisclosureSerializer()
    notice = StrictCharField(help_text=f"Must accompany the data wherever it goes: “{REDISCLOSURE_NOTICE}”")
    # A field, not the `data` property: the serializer metaclass takes declared fields off the class.
    data = ReleasedDataSerializer()  # type: ignore[assignment]


class UpdatedSinceFilterSet(StrictFilterSet):
    updated_since = UpdatedSinceFilter()


class ConsentFilter(UpdatedSinceFilterSet):
    class Meta:
        model = Consent
        fields = ["updated_since"]


class DisclosureFilter(UpdatedSinceFilterSet):
    class Meta:
        model = Disclosure
        fields = ["updated_since"]


PATIENT_ID = OpenApiParameter("patient_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The patient's id.")


class PatientResourceViewSet(ClinicScopedViewSet):
    """A resource under `patients/{patient_id}/`: the patient must be one of the caller's clinic,
    or the answer is 404 whatever the rest of the path says."""

    patient: Patient

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if not self.is_schema_generation:
            try:
                self.patient = patient_list(clinic=self.caller.clinic).get(pk=self.kwargs["patient_id"])
            except (Patient.DoesNotExist, DjangoValidationError):
                raise NotFound() from None

    def location(self, obj: Any) -> str:
        return reverse(f"api:{self.basename}-detail", kwargs={"patient_id": self.patient.pk, "pk": obj.pk})


@extend_schema(parameters=[PATIENT_ID], tags=["consents"])
@extend_schema_view(
    list=extend_schema(summary="A patient's consents to disclose"),
    retrieve=extend_schema(summary="Read a consent"),
    create=extend_schema(
        summary="Record a consent the patient signed",
        description=(
            "42 CFR Part 2 §2.31: the recipient, the purpose, what may be disclosed, and an expiry date or "
            "event. The terms cannot be changed afterwards: record a new consent and revoke the old one."
        ),
        request=ConsentInputSerializer,
        responses={201: ConsentSerializer},
    ),
)
class ConsentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PatientResourceViewSet):
    read_scopes = ("consents:read",)
    write_scopes = ("consents:write",)
    http_method_names = ["get", "post", "head", "options"]
    serializer_class = ConsentSerializer
    filterset_class = ConsentFilter
    filter_backends = [FilterBackend]

    def select(self, clinic: Clinic) -> QuerySet[Consent]:
        return consent_list(clinic=clinic, patient=self.patient)

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        if not self.is_schema_generation:
            # One day for every consent's `state` on the page: the clinic's today.
            context["today"] = timezone.localdate(timezone=self.caller.clinic.zone)
        return context

    @idempotent
    def create(self, request: Request, patient_id: str) -> Response:
        consent = consent_record(patient=self.patient, by=self.caller, **self.validated(ConsentInputSerializer))
        return Response(
            self.get_serializer(consent).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": self.location(consent)},
        )

    @extend_schema(
        summary="Revoke a consent",
        description=(
            "From now on nothing more is released under it; what was already disclosed stays in the accounting. "
            "Revoking a revoked consent changes nothing (the first revocation stands)."
        ),
        request=RevokeSerializer,
        responses={200: ConsentSerializer},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def revoke(self, request: Request, patient_id: str, pk: str) -> Response:
        consent = consent_revoke(consent=self.get_object(), by=self.caller, **self.validated(RevokeSerializer))
        return Response(self.get_serializer(consent).data)


_READ_SCOPES_TEXT = "; ".join(
    f"{category}: {' and '.join(scopes)}" for category, scopes in CATEGORY_READ_SCOPES.items()
)


@extend_schema(parameters=[PATIENT_ID], tags=["consents"])
@extend_schema_view(
    list=extend_schema(summary="The accounting of a patient's disclosures"),
    retrieve=extend_schema(summary="Read a disclosure"),
    create=extend_schema(
        summary="Release a patient's records under a consent",
        description=(
            "Checks that the consent is this patient's, not revoked, not expired, names this recipient and "
            "covers every category asked for; the caller also needs the read scope of each category "
            f"({_READ_SCOPES_TEXT}). Then records the "
            "disclosure and returns it with the data and the redisclosure notice (§2.32), which must go "
            "with the data. A refusal records nothing.\n\n"
            "Nothing in a release can be traced to a category it does not name: medication visits are left out "
            "of `attendance` and MAT activities out of `plan` unless `medication` is released too. "
            f"{_FLAG_POLICY} The accounting (not the release) counts what was left out, in `withheld`."
        ),
        request=DisclosureInputSerializer,
        responses={201: ReleaseSerializer},
    ),
)
class DisclosureViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PatientResourceViewSet):
    read_scopes = ("consents:read",)
    write_scopes = ("disclosures:write",)
    http_method_names = ["get", "post", "head", "options"]
    serializer_class = DisclosureSerializer
    filterset_class = DisclosureFilter
    filter_backends = [FilterBackend]
    # A release sends the patient's records out of the clinic: the access log calls it an export.
    access_actions = {"create": AccessAction.EXPORT}

    def select(self, clinic: Clinic) -> QuerySet[Disclosure]:
        return disclosure_list(clinic=clinic, patient=self.patient)

    def accessed(self, data: Any) -> tuple[list[Any], list[Any]]:
        if isinstance(data, dict) and isinstance(data.get("disclosure"), dict):
            return [data["disclosure"].get("id")], []
        return super().accessed(data)

    @idempotent
    def create(self, request: Request, patient_id: str) -> Response:
        body = self.validated(DisclosureInputSerializer)
        needed = {scope for category in body["categories"] for scope in CATEGORY_READ_SCOPES[category]}
        missing = needed - self.caller.scopes
        if missing:
            raise PermissionDenied(f"Releasing these categories also needs the scope(s): {', '.join(sorted(missing))}.")
        release = disclosure_release(
            patient=self.patient,
            consent_id=body["consent"],
            by=self.caller,
            recipient_name=body["recipient_name"],
            categories=body["categories"],
        )
        payload = {"disclosure": release.disclosure, "notice": release.notice, "data": release.data}
        return Response(
            ReleaseSerializer(payload).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": self.location(release.disclosure)},
        )
