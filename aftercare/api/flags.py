"""`/api/v1/flags/` (+ `acknowledge/`, `resolve/`, `dismiss/`) and `/api/v1/risk-rules/`."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from aftercare.models import (
    FlagEventKind,
    FlagStatus,
    RiskFlag,
    RiskFlagEvent,
    RiskRule,
    RiskRuleSetting,
    Severity,
)
from aftercare.risk.rules import RULES, Stage
from aftercare.risk.wording import flag_reason
from aftercare.services.flags import flag_transition
from aftercare.services.risk import risk_rule_update
from clinic.api.filters import StrictFilterSet, UpdatedSinceFilter
from clinic.api.idempotency import idempotent
from clinic.api.pagination import OnePage
from clinic.api.serializers import FastReadMixin, StrictCharField, StrictTextField
from clinic.api.views import IF_MATCH, ClinicScopedViewSet
from clinic.models import Clinic

_FLAG_FIELDS = [
    "id",
    "patient",
    "rule",
    "severity",
    "status",
    "condition_met",
    "evidence",
    "raised_at",
    "evidence_updated_at",
    "acknowledged_at",
    "acknowledged_by",
    "acknowledged_by_client",
    "closed_at",
    "closed_by",
    "closed_by_client",
    "resolution_note",
    "created_at",
    "updated_at",
]


EVIDENCE_TYPES = ["appointment", "group_session", "care_transition", "medication_event", "check_in", "drug_screen"]


class EvidenceSerializer(serializers.Serializer[Any]):
    type = serializers.ChoiceField(
        choices=EVIDENCE_TYPES,
        help_text="What the item is: a session, or a record (`care-transitions/`, `medication-events/`, "
        "`check-ins/`, `drug-screens/`) with that id.",
    )
    id = serializers.UUIDField(allow_null=True, help_text="Null for a discharge known only by its date.")
    starts_at = serializers.DateTimeField(
        help_text="When it happened: a session's start, an answer's time, or the start of a record's day."
    )
    status = StrictCharField(
        help_text="A session's attendance, a medication event's kind, a screen result, `answered` or `expired`."
    )
    detail = serializers.DictField(
        required=False,
        help_text="What a record said that the rule read: a check-in's answers, a screen's analyte.",
    )


class FlagSerializer(FastReadMixin, serializers.ModelSerializer[RiskFlag]):
    evidence = EvidenceSerializer(many=True, read_only=True)
    stage = serializers.SerializerMethodField(
        help_text="The relapse stage the rule's evidence points to: emotional (pulling away from care and support), "
        "mental (craving, low confidence), physical (use); null for a request or a concern about treatment itself "
        "(asked to be called, a screen negative for the prescribed medication)."
    )
    reason = serializers.SerializerMethodField(
        help_text='Why the rule fired, in one line, from the evidence: "Missed 2 in a row: Tue 24 Nov, Mon 30 Nov".'
    )

    class Meta:
        model = RiskFlag
        fields = [*_FLAG_FIELDS[:4], "stage", "reason", *_FLAG_FIELDS[4:]]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=[stage.value for stage in Stage], allow_null=True))
    def get_stage(self, flag: RiskFlag) -> str | None:
        stage = RULES[flag.rule].stage
        return stage.value if stage is not None else None

    def get_reason(self, flag: RiskFlag) -> str:
        return flag_reason(flag.rule, flag.evidence)


class FlagEventSerializer(serializers.ModelSerializer[RiskFlagEvent]):
    evidence = EvidenceSerializer(many=True, read_only=True)

    class Meta:
        model = RiskFlagEvent
        fields = ["kind", "severity", "condition_met", "evidence", "at", "by", "by_client", "note"]
        read_only_fields = fields


class FlagDetailSerializer(FlagSerializer):
    history = FlagEventSerializer(many=True, read_only=True, source="events")

    class Meta(FlagSerializer.Meta):
        fields = [*FlagSerializer.Meta.fields, "history"]
        read_only_fields = fields


class FlagNoteSerializer(serializers.Serializer[Any]):
    note = StrictTextField(max_length=4000, allow_blank=True, required=False, default="")


class FlagFilter(StrictFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=FlagStatus.choices)
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices)
    rule = django_filters.MultipleChoiceFilter(choices=RiskRule.choices)
    patient = django_filters.UUIDFilter(field_name="patient_id")
    assigned_clinician = django_filters.UUIDFilter(
        field_name="patient__assigned_clinician_id", help_text="The patient's assigned clinician."
    )
    updated_since = UpdatedSinceFilter()

    class Meta:
        model = RiskFlag
        fields = ["status", "severity", "rule", "patient", "assigned_clinician", "updated_since"]


@extend_schema_view(
    list=extend_schema(summary="List risk flags", tags=["flags"]),
    retrieve=extend_schema(summary="Read a flag with its evidence and history", tags=["flags"]),
)
class FlagViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClinicScopedViewSet):
    read_scopes = ("flags:read",)
    write_scopes = ("flags:write",)
    conflict_actions = frozenset({"acknowledge", "resolve", "dismiss"})
    serializer_class = FlagSerializer
    filterset_class = FlagFilter

    def get_serializer_class(self) -> Any:
        return FlagDetailSerializer if self.action != "list" else FlagSerializer

    def select(self, clinic: Clinic) -> QuerySet[RiskFlag]:
        queryset = RiskFlag.objects.filter(clinic=clinic)
        if self.action != "list":
            queryset = queryset.prefetch_related("events")
        return queryset

    def _transition(self, kind: FlagEventKind) -> Response:
        flag = self.get_object()
        body = self.validated(FlagNoteSerializer)
        flag_transition(flag=flag, kind=kind, by=self.caller, note=body["note"])
        return Response(FlagDetailSerializer(self.get_queryset().get(pk=flag.pk)).data)

    @extend_schema(
        summary="Acknowledge a flag: someone is on it", request=FlagNoteSerializer, responses=FlagDetailSerializer
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def acknowledge(self, request: Request, pk: str) -> Response:
        return self._transition(FlagEventKind.ACKNOWLEDGED)

    @extend_schema(
        summary="Resolve a flag (a note is required)", request=FlagNoteSerializer, responses=FlagDetailSerializer
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def resolve(self, request: Request, pk: str) -> Response:
        return self._transition(FlagEventKind.RESOLVED)

    @extend_schema(
        summary="Dismiss a flag as not a concern (a note is required)",
        request=FlagNoteSerializer,
        responses=FlagDetailSerializer,
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def dismiss(self, request: Request, pk: str) -> Response:
        return self._transition(FlagEventKind.DISMISSED)


class ThresholdLimitSerializer(serializers.Serializer[Any]):
    default = serializers.IntegerField()
    minimum = serializers.IntegerField()
    maximum = serializers.IntegerField()
    help = StrictCharField()


class RiskRuleSerializer(serializers.Serializer[Any]):
    code = serializers.ChoiceField(choices=RiskRule.choices, read_only=True)
    title = StrictCharField(read_only=True, help_text="The rule's name, as staff see it.")
    stage = serializers.ChoiceField(
        choices=[stage.value for stage in Stage],
        read_only=True,
        allow_null=True,
        help_text="The relapse stage this rule's flags point to (null: a request or a concern about treatment).",
    )
    summary = StrictCharField(read_only=True)
    severity = StrictCharField(read_only=True)
    basis = StrictCharField(read_only=True, help_text="The clinical reason for the rule, naming its source.")
    enabled = serializers.BooleanField(required=False)
    thresholds = serializers.DictField(child=serializers.IntegerField(), required=False)
    limits = serializers.DictField(child=ThresholdLimitSerializer(), read_only=True)


def _rule_view(code: str, setting: RiskRuleSetting | None) -> dict[str, Any]:
    rule = RULES[code]
    return {
        "code": code,
        "title": rule.label,
        "stage": rule.stage.value if rule.stage is not None else None,
        "summary": rule.summary,
        "severity": rule.severity,
        "basis": rule.basis,
        "enabled": setting.enabled if setting is not None else True,
        "thresholds": {**rule.defaults(), **(setting.thresholds if setting is not None else {})},
        "limits": {name: vars(limit) for name, limit in rule.thresholds.items()},
    }


_RULES_TEXT = (
    "The rules are fixed in code, each with its clinical basis; a clinic turns them on or off and tunes their "
    "thresholds."
)


@extend_schema_view(
    list=extend_schema(summary="The risk rules and this clinic's thresholds", description=_RULES_TEXT, tags=["flags"]),
    retrieve=extend_schema(
        summary="One risk rule and this clinic's thresholds", description=_RULES_TEXT, tags=["flags"]
    ),
    partial_update=extend_schema(
        summary="Change this clinic's thresholds for a rule",
        description=(
            f"{_RULES_TEXT} Needs `rules:write`: the admin role holds it, and a client may be granted it. "
            "A threshold outside its `limits` is refused and named (`thresholds.<name>`)."
        ),
        tags=["flags"],
    ),
)
class RiskRuleViewSet(ClinicScopedViewSet):
    """The rules are fixed in code; a clinic turns them on or off and tunes their thresholds."""

    read_scopes = ("flags:read",)
    write_scopes = ("rules:write",)
    serializer_class = RiskRuleSerializer
    pagination_class = OnePage
    filter_backends: list[Any] = []
    ordering_fields = ()
    etag_identity = "code"
    lookup_value_regex = "[a-z_]+"
    http_method_names = ["get", "patch", "head", "options"]

    def select(self, clinic: Clinic) -> QuerySet[RiskRuleSetting]:
        return RiskRuleSetting.objects.filter(clinic=clinic)

    def _setting(self, code: str) -> RiskRuleSetting | None:
        if code not in RULES:
            raise NotFound()
        return self.get_queryset().filter(rule=code).first()

    def list(self, request: Request) -> Response:
        settings = {setting.rule: setting for setting in self.get_queryset()}
        rules = [_rule_view(code, settings.get(code)) for code in RULES]
        return self.get_paginated_response(RiskRuleSerializer(rules, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(RiskRuleSerializer(_rule_view(pk, self._setting(pk))).data)

    def partial_update(self, request: Request, pk: str) -> Response:
        if pk not in RULES:
            raise NotFound()
        body = self.validated(partial=True)
        if request.headers.get(IF_MATCH) is not None:
            # No row may exist yet for the rule: the clinic's row is the lock its settings share.
            Clinic.objects.select_for_update().filter(pk=self.caller.clinic.pk).values_list("pk").first()
            self.precondition(_rule_view(pk, self._setting(pk)))
        setting = risk_rule_update(
            clinic=self.caller.clinic,
            rule=pk,
            enabled=body.get("enabled"),
            thresholds=body.get("thresholds", {}),
            by=self.caller,
        )
        return Response(RiskRuleSerializer(_rule_view(pk, setting)).data)
