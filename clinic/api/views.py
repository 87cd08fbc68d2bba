"""The base of every API view: the caller's clinic is where every queryset starts."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import QuerySet
from rest_framework import routers, viewsets

from clinic.auth.caller import Caller, get_caller


class ClinicScopedViewSet(viewsets.GenericViewSet):  # type: ignore[type-arg]
    """Subclasses name the scopes they need and build `get_queryset` from `self.caller.clinic`."""

    read_scopes: ClassVar[tuple[str, ...]] = ()
    write_scopes: ClassVar[tuple[str, ...]] = ()

    @property
    def caller(self) -> Caller:
        return get_caller(self.request)

    @property
    def is_schema_generation(self) -> bool:
        return bool(getattr(self, "swagger_fake_view", False))

    def paginate_queryset(self, queryset: QuerySet[Any]) -> Any:
        """A list page of plain columns is read as `.values()` rows: no model instances to build."""
        columns = getattr(self.get_serializer_class(), "plain_columns", lambda: None)()
        if self.action == "list" and columns is not None and isinstance(queryset, QuerySet):
            ordering = {field.lstrip("-") for field in (getattr(self, "ordering_fields", None) or [])}
            queryset = queryset.values(*dict.fromkeys([*columns, "id", "created_at", *sorted(ordering)]))
        return super().paginate_queryset(queryset)

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        if not self.is_schema_generation:
            context["clinic"] = self.caller.clinic
        return context


class Router(routers.DefaultRouter):
    """DRF's router plus `PUT` on a collection, bound to an `upsert` action where a view has one."""

    include_root_view = False
    include_format_suffixes = False
    routes = [
        routers.Route(
            url=r"^{prefix}{trailing_slash}$",
            mapping={"get": "list", "post": "create", "put": "upsert"},
            name="{basename}-list",
            detail=False,
            initkwargs={"suffix": "List"},
        ),
        *routers.SimpleRouter.routes[1:],
    ]
