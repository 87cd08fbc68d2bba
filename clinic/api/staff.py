"""`/api/v1/staff/`: the clinic's staff directory, so that an integration can find whom to book with.

A row is a person's membership of the caller's clinic; its `id` is the person's user id, the value
`clinician` takes on appointments and series. The EHR's own provider id (`external_id`) can be
given instead as `clinician_external_id`. Nothing a person signs in with (username, email) is shown.
"""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers

from clinic.api.filters import BooleanFilter, StrictFilterSet, UpdatedSinceFilter
from clinic.api.serializers import FastReadMixin
from clinic.api.views import ClinicScopedViewSet
from clinic.models import Clinic, Role, StaffMembership
from clinic.selectors.staff import staff_directory_list


class StaffSerializer(FastReadMixin, serializers.ModelSerializer[StaffMembership]):
    """A person working for the clinic, in one role. Active clinicians, case managers and admins
    can be booked as an appointment's or a series' `clinician`."""

    id = serializers.UUIDField(
        source="user_id", read_only=True, help_text="The person's id: the value `clinician` takes on appointments."
    )
    first_name = serializers.CharField(read_only=True)
    last_name = serializers.CharField(read_only=True)
    active = serializers.BooleanField(
        read_only=True, help_text="Works here now and can sign in (only active care staff can be booked)."
    )
    external_id = serializers.CharField(
        read_only=True, allow_null=True, help_text="The EHR's identifier of this person (provider id), or null."
    )
    npi = serializers.CharField(read_only=True, allow_null=True, help_text="National Provider Identifier, or null.")

    class Meta:
        model = StaffMembership
        fields = ["id", "first_name", "last_name", "role", "active", "external_id", "npi", "updated_at"]
        read_only_fields = fields


class StaffFilter(StrictFilterSet):
    role = django_filters.MultipleChoiceFilter(choices=Role.choices)
    active = BooleanFilter(help_text="true: works here now and can sign in; false: the others.")
    external_id = django_filters.CharFilter(help_text="The EHR's identifier (exact).")
    updated_since = UpdatedSinceFilter(
        help_text=(
            "Only memberships (role, active, identifiers) changed at or after this instant "
            "(RFC 3339 with offset, e.g. 2026-11-21T14:30:00Z)."
        )
    )

    class Meta:
        model = StaffMembership
        fields = ["role", "active", "external_id", "updated_since"]


@extend_schema_view(
    list=extend_schema(summary="List the clinic's staff", tags=["staff"]),
    retrieve=extend_schema(summary="Read a staff member", tags=["staff"]),
)
class StaffViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClinicScopedViewSet):
    read_scopes = ("staff:read",)
    serializer_class = StaffSerializer
    filterset_class = StaffFilter
    # The URL names the person (their user id), as `clinician` does, not the membership row.
    lookup_field = "user_id"
    lookup_url_kwarg = "pk"
    access_patient_key = None  # a staff row names no patient

    def select(self, clinic: Clinic) -> QuerySet[StaffMembership]:
        return staff_directory_list(clinic=clinic)
