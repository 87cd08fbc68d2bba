"""What the clinical records' resources share: the fields every record has, and a viewset with
list, read, create (Idempotency-Key), PATCH, upsert by `external_id` (`PUT ?external_id=`) and the
correction `entered-in-error/`. No DELETE: a record is never deleted."""

from __future__ import annotations

import datetime
from typing import Any, ClassVar

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from aftercare.models.records import EXTERNAL_ID_MAX_LENGTH, ClinicalRecord
from aftercare.services.records import record_mark_entered_in_error
from aftercare.services.records.common import NOTES_MAX_LENGTH, REASON_MAX_LENGTH
from clinic.api.filters import BooleanFilter, FilterBackend, UpdatedSinceFilter
from clinic.api.idempotency import idempotent
from clinic.api.serializers import YEAR, StrictCharField, StrictTextField
from clinic.api.views import IF_MATCH, ClinicScopedViewSet

# A record's day: an EHR may back-fill years of history; a day after the clinic's today is refused
# (and named) before the service would refuse it.
RECORD_DAY: dict[str, Any] = {"past": 10 * YEAR, "future": datetime.timedelta(0)}

RECORD_READ_ONLY = [
    "id",
    "recorded_by",
    "recorded_by_client",
    "entered_in_error",
    "entered_in_error_reason",
    "entered_in_error_at",
    "created_at",
    "updated_at",
]
RECORD_EXTRA_KWARGS: dict[str, dict[str, Any]] = {
    "notes": {"max_length": NOTES_MAX_LENGTH},
    "recorded_by": {"help_text": "The staff member who recorded it (null when an integration client did)."},
    "recorded_by_client": {"help_text": "The integration client that recorded it (null when staff did)."},
    "entered_in_error": {"help_text": "Marked entered in error: kept, never deleted, ignored by the risk rules."},
    "entered_in_error_reason": {"help_text": "Why it was marked entered in error."},
}


def external_id_field() -> StrictCharField:
    return StrictCharField(
        max_length=EXTERNAL_ID_MAX_LENGTH,
        required=False,
        allow_blank=True,
        help_text="The source system's id (EHR, dispensing system), unique within the clinic; PUT "
        "`?external_id=` upserts by it.",
    )


class EnteredInErrorSerializer(serializers.Serializer[Any]):
    reason = StrictTextField(max_length=REASON_MAX_LENGTH, help_text="Why the record was entered in error.")


class RecordFilterMixin(django_filters.FilterSet):
    patient = django_filters.UUIDFilter(field_name="patient_id")
    entered_in_error = BooleanFilter(help_text="false: the records in force; true: the corrections.")
    updated_since = UpdatedSinceFilter()


EXTERNAL_ID_PARAMETER = OpenApiParameter(
    "external_id",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    required=True,
    description="The source system's id of the record to create or replace.",
)


def record_schema(*, tag: str, noun: str, plural: str, serializer: Any, create: str) -> dict[str, Any]:
    """The documentation of a record resource's operations (for `extend_schema_view`)."""
    return {
        "list": extend_schema(summary=f"List {plural}", tags=[tag]),
        "retrieve": extend_schema(summary=f"Read a {noun}", tags=[tag]),
        "create": extend_schema(summary=create, tags=[tag]),
        "partial_update": extend_schema(
            summary=f"Correct a {noun}",
            description="A record entered in error cannot change (409); its patient never changes.",
            tags=[tag],
        ),
        "entered_in_error": extend_schema(
            summary=f"Mark a {noun} entered in error",
            description=(
                "The record stays (records are never deleted), marked with the reason; the risk rules "
                "ignore it from then on. Final: a record marked so cannot change again (409)."
            ),
            request=EnteredInErrorSerializer,
            responses={200: serializer},
            tags=[tag],
        ),
    }


def upsert_documented(*, tag: str, noun: str, serializer: Any) -> Any:
    """A resource's own `upsert` (the `PUT` on its collection), documented for that resource:
    `extend_schema_view` does not reach actions the router adds."""

    @extend_schema(
        summary=f"Create or replace a {noun} by the source system's id",
        description=(
            f"Upsert for integrations: `PUT …?external_id=…` with the full {noun}. Creates it (201) or "
            "replaces the one with that `external_id` (200); never a duplicate."
        ),
        tags=[tag],
        parameters=[EXTERNAL_ID_PARAMETER],
        request=serializer,
        responses={
            200: OpenApiResponse(serializer, description="Replaced"),
            201: OpenApiResponse(serializer, description="Created"),
        },
        filters=False,
    )
    def upsert(self: RecordViewSet, request: Request) -> Response:
        return RecordViewSet.upsert(self, request)

    return upsert


class RecordViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClinicScopedViewSet):
    """Subclasses name their scopes, serializer, filters, selector and the services below."""

    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    conflict_actions = frozenset({"partial_update", "upsert", "entered_in_error"})
    filter_backends = [FilterBackend]
    # What a PUT leaves out is reset to this (a replacement, not a merge).
    replace_defaults: ClassVar[dict[str, Any]] = {}

    def service_fields(self, body: dict[str, Any]) -> dict[str, Any]:
        """The validated body as the services take it."""
        return body

    def record_create(self, **fields: Any) -> ClinicalRecord:
        raise NotImplementedError

    def record_update(self, record: Any, **fields: Any) -> ClinicalRecord:
        raise NotImplementedError

    def record_upsert(self, external_id: str, **fields: Any) -> tuple[ClinicalRecord, bool]:
        raise NotImplementedError

    def _read(self, record: ClinicalRecord) -> Any:
        return self.get_serializer(self.get_queryset().get(pk=record.pk)).data

    @idempotent
    def create(self, request: Request) -> Response:
        record = self.record_create(**self.service_fields(self.validated()))
        response = self.created(record)
        response.data = self._read(record)
        return response

    def partial_update(self, request: Request, pk: str) -> Response:
        record = self.get_object()
        fields = self.service_fields(self.validated(instance=record, partial=True))
        return Response(self._read(self.record_update(record, **fields)))

    def upsert(self, request: Request) -> Response:
        external_id = request.query_params.get("external_id", "").strip()
        if not external_id:
            raise ValidationError({"external_id": ["This query parameter is required."]})
        if len(external_id) > EXTERNAL_ID_MAX_LENGTH:
            raise ValidationError(
                {"external_id": [f"Ensure this field has no more than {EXTERNAL_ID_MAX_LENGTH} characters."]}
            )
        if "\x00" in external_id:
            raise ValidationError({"external_id": ["Null characters are not allowed."]})
        fields = self.service_fields({**self.replace_defaults, **self.validated()})
        body_id = fields.pop("external_id", None)
        if body_id and body_id != external_id:
            raise ValidationError({"external_id": ["Differs from the external_id in the query string."]})
        if request.headers.get(IF_MATCH) is not None:
            existing = self.get_queryset().filter(external_id=external_id).first()
            self.precondition(existing, reread=lambda: self.get_queryset().get(pk=existing.pk))  # type: ignore[union-attr]
        record, created = self.record_upsert(external_id, **fields)
        if created:
            response = self.created(record)
            response.data = self._read(record)
            return response
        return Response(self._read(record))

    @action(detail=True, methods=["post"], url_path="entered-in-error", filterset_class=None)
    @idempotent
    def entered_in_error(self, request: Request, pk: str) -> Response:
        record = self.get_object()
        body = self.validated(EnteredInErrorSerializer)
        record = record_mark_entered_in_error(record=record, by=self.caller, reason=body["reason"])
        return Response(self._read(record))
