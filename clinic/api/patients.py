"""`/api/v1/patients/`: the patient registry, with EHR upsert by `external_id`."""

from __future__ import annotations

import datetime
from typing import Any

import django_filters
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from clinic.api.filters import FilterBackend, StrictFilterSet, UpdatedSinceFilter
from clinic.api.idempotency import idempotent
from clinic.api.pagination import CursorPagination
from clinic.api.phones import PATIENT_PHONE
from clinic.api.serializers import YEAR, ClinicRelatedField, FastReadMixin, StrictCharField
from clinic.api.views import IF_MATCH, ClinicScopedViewSet
from clinic.models import Clinic, Patient, PatientStatus, User
from clinic.selectors.patients import care_staff_list, patient_history, patient_list
from clinic.services.patients import PATIENT_FIELDS, patient_create, patient_update, patient_upsert


class PatientSerializer(FastReadMixin, serializers.ModelSerializer[Patient]):
    assigned_clinician = ClinicRelatedField(
        scoped=lambda clinic: care_staff_list(clinic=clinic),
        queryset=User.objects.all(),
        allow_null=True,
        required=False,
        help_text="A clinician, case manager or admin of this clinic (their user id).",
    )

    class Meta:
        model = Patient
        fields = ["id", *PATIENT_FIELDS, "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {
            # The database enforces uniqueness per clinic (and upsert relies on it); DRF's own
            # validator would look across every clinic.
            "external_id": {"validators": [], "help_text": "The EHR's identifier, unique within the clinic."},
            # Days of the clinic's calendar: a birth is never ahead of today; an intake or a
            # discharge may be planned, though not years ahead.
            "date_of_birth": {"future": datetime.timedelta(0)},
            "intake_date": {"future": YEAR},
            "discharge_date": {"future": YEAR},
            "phone": {"validators": [PATIENT_PHONE]},
        }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        def current(name: str) -> Any:
            return attrs[name] if name in attrs else getattr(self.instance, name, None)

        born, intake = current("date_of_birth"), current("intake_date")
        if born and intake and intake < born:
            raise serializers.ValidationError(
                {"intake_date": ErrorDetail("Must not be before date_of_birth.", code="out_of_range")}
            )
        return attrs

    def validate_external_id(self, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise serializers.ValidationError("Must not be blank: send null for a patient without one.")
        return value


class PatientFilter(StrictFilterSet):
    external_id = django_filters.CharFilter(help_text="The EHR's identifier (exact).")
    status = django_filters.MultipleChoiceFilter(choices=PatientStatus.choices)
    assigned_clinician = django_filters.UUIDFilter(field_name="assigned_clinician_id")
    updated_since = UpdatedSinceFilter()

    class Meta:
        model = Patient
        fields = ["external_id", "status", "assigned_clinician", "updated_since"]


EXTERNAL_ID_PARAMETER = OpenApiParameter(
    "external_id",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    required=True,
    description="The EHR's identifier of the patient to create or replace.",
)


class HistoryEntrySerializer(serializers.Serializer[Any]):
    at = serializers.DateTimeField(source="pgh_created_at")
    object_type = StrictCharField(source="pgh_obj_model", help_text="e.g. aftercare.Appointment")
    object_id = StrictCharField(source="pgh_obj_id")
    change = StrictCharField(source="pgh_label", help_text="insert, update or delete")
    changes = serializers.JSONField(source="pgh_diff", allow_null=True, help_text="field: [before, after]")
    snapshot = serializers.JSONField(source="pgh_data", help_text="The row after the change.")
    actor = serializers.SerializerMethodField(help_text="user:<id>, client:<id> or task:<name>")
    url = serializers.SerializerMethodField()

    def _change_context(self, event: Any) -> dict[str, Any]:
        return event.pgh_context or {}

    def get_actor(self, event: Any) -> str | None:
        context = self._change_context(event)
        if context.get("actor"):
            return str(context["actor"])
        return f"user:{context['user']}" if context.get("user") else None

    def get_url(self, event: Any) -> str | None:
        return self._change_context(event).get("url")


class HistoryPagination(CursorPagination):
    ordering = ("-pgh_created_at", "-pgh_slug")
    ordering_query_param = None  # newest first, always


@extend_schema_view(
    list=extend_schema(summary="List patients", tags=["patients"]),
    retrieve=extend_schema(summary="Read a patient", tags=["patients"]),
    create=extend_schema(summary="Register a patient", tags=["patients"]),
    update=extend_schema(summary="Replace a patient", tags=["patients"]),
    partial_update=extend_schema(summary="Update some of a patient's fields", tags=["patients"]),
)
class PatientViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    ClinicScopedViewSet,
):
    read_scopes = ("patients:read",)
    write_scopes = ("patients:write",)
    # The history shows every clinical record of the patient and their consents: it needs every read scope.
    action_scopes = {
        "history": (
            "patients:read",
            "plans:read",
            "schedule:read",
            "flags:read",
            "consents:read",
            "transitions:read",
            "medication:read",
            "screens:read",
        )
    }
    serializer_class = PatientSerializer
    access_patient_key = "id"
    access_path_patient = "pk"
    filterset_class = PatientFilter
    filter_backends = [FilterBackend]

    def select(self, clinic: Clinic) -> QuerySet[Patient]:
        return patient_list(clinic=clinic)

    @idempotent
    def create(self, request: Request) -> Response:
        return self.created(patient_create(clinic=self.caller.clinic, **self.validated()))

    def update(self, request: Request, pk: str, partial: bool = False) -> Response:
        patient = self.get_object()
        patient = patient_update(patient=patient, **self.validated(instance=patient, partial=partial))
        return Response(self.get_serializer(patient).data)

    def partial_update(self, request: Request, pk: str) -> Response:
        return self.update(request, pk, partial=True)

    @extend_schema(
        summary="Create or replace a patient by the EHR's identifier",
        description=(
            "Upsert for EHR integrations: `PUT /api/v1/patients/?external_id=…` with the full record. "
            "Creates the patient (201) or replaces the one with that `external_id` (200); never a duplicate."
        ),
        tags=["patients"],
        parameters=[EXTERNAL_ID_PARAMETER],
        request=PatientSerializer,
        responses={
            200: OpenApiResponse(PatientSerializer, description="Replaced"),
            201: OpenApiResponse(PatientSerializer, description="Created"),
        },
        filters=False,
    )
    def upsert(self, request: Request) -> Response:
        external_id = request.query_params.get("external_id", "").strip()
        if not external_id:
            raise ValidationError({"external_id": ["This query parameter is required."]})
        if len(external_id) > 64:
            raise ValidationError({"external_id": ["Ensure this field has no more than 64 characters."]})
        if "\x00" in external_id:
            raise ValidationError({"external_id": ["Null characters are not allowed."]})
        fields = self.validated()
        body_id = fields.pop("external_id", None)
        if body_id is not None and body_id != external_id:
            raise ValidationError({"external_id": ["Differs from the external_id in the query string."]})
        if request.headers.get(IF_MATCH) is not None:
            existing = self.get_queryset().filter(external_id=external_id).first()
            self.precondition(existing, reread=lambda: self.get_queryset().get(pk=existing.pk))  # type: ignore[union-attr]
        patient, created = patient_upsert(clinic=self.caller.clinic, external_id=external_id, **fields)
        return self.created(patient) if created else Response(self.get_serializer(patient).data)

    @extend_schema(
        summary="Who changed what: the patient, their plans and activities, appointments, groups, flags and consents",
        responses=HistoryEntrySerializer(many=True),
        tags=["patients"],
    )
    @action(detail=True, methods=["get"], pagination_class=HistoryPagination, filterset_class=None)
    def history(self, request: Request, pk: str) -> Response:
        patient = self.get_object()
        events = patient_history(patient=patient)
        page = self.paginate_queryset(events)
        return self.get_paginated_response(HistoryEntrySerializer(page, many=True).data)
