"""The base of every API view: the caller's clinic is where every queryset starts."""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar

import pghistory
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.http import parse_etags
from django_guid import get_guid
from rest_framework import routers, status, viewsets
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response

from clinic.api.errors import PreconditionFailed
from clinic.api.pagination import CursorPagination
from clinic.api.serializers import ISO_PREFIX, UtcIsoInstant, validated_strictly
from clinic.api.sqlpage import RenderedResponse, is_utc, page_response, read_page, row_sql
from clinic.auth.caller import Caller, get_caller
from clinic.models import Clinic
from clinic.models.access import AccessAction
from clinic.services.access import access_event_cte, access_record

# The viewset actions that read or write their named object; any other is `<basename>.<action>`.
_STANDARD_ACTIONS = {"list", "retrieve", "create", "update", "partial_update", "destroy", "upsert"}
IF_MATCH = "If-Match"
_WRITES = ("POST", "PUT", "PATCH", "DELETE")


def etag_of(representation: Any) -> str:
    """A strong ETag: a hash of the object's representation as the API shows it.

    A hash of what the client read, rather than `updated_at`: a plan's activities and a flag's
    history are rows of their own that do not move their parent's `updated_at`, and a version
    the client never saw must not be the one it is compared with.
    """
    text = json.dumps(representation, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"))
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


class ClinicScopedViewSet(viewsets.GenericViewSet):  # type: ignore[type-arg]
    """Subclasses name the scopes they need and build `get_queryset` from `self.caller.clinic`."""

    read_scopes: ClassVar[tuple[str, ...]] = ()
    write_scopes: ClassVar[tuple[str, ...]] = ()
    # The writes a service may refuse because of the record's current state: 409 (clinic.errors.Conflict).
    conflict_actions: ClassVar[frozenset[str]] = frozenset()
    # The access log: the key of a returned row that names its patient, and actions that are not
    # what their method says (a release of records is an export).
    access_patient_key: ClassVar[str | None] = "patient"
    access_path_patient: ClassVar[str] = "patient_id"  # the URL argument naming the patient, if any
    access_actions: ClassVar[dict[str, AccessAction]] = {}
    # `?ordering=` on the list (clinic.api.pagination): every resource is synced by `updated_at`.
    ordering_fields: ClassVar[tuple[str, ...]] = ("created_at", "updated_at")
    # The key of a representation that names the object of a detail URL (for its ETag).
    etag_identity: ClassVar[str] = "id"
    # List pages read, rendered and logged in one SQL statement where they can be (`page_in_sql`).
    lists_in_sql: ClassVar[bool] = True

    @property
    def caller(self) -> Caller:
        return get_caller(self.request)

    @property
    def is_schema_generation(self) -> bool:
        return bool(getattr(self, "swagger_fake_view", False))

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authenticated and permitted from here on
        if request.method not in SAFE_METHODS and not self.is_schema_generation:
            # Attached to every history row this request's writes make. Reads write no history
            # (and pghistory's middleware opens no context for them), so list pages skip this.
            pghistory.context(actor=self.caller.key, clinic=str(self.caller.clinic.pk), request_id=get_guid())

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if request.method in _WRITES and request.headers.get(IF_MATCH) is not None:
            # The version check and the write in one transaction, under the row's lock
            # (`precondition`): of two writers holding the same ETag, the second gets a 412.
            with transaction.atomic():
                return super().dispatch(request, *args, **kwargs)
        return super().dispatch(request, *args, **kwargs)

    def get_object(self) -> Any:
        if "pk" not in self.kwargs:
            # DRF's metadata (OPTIONS on a collection that takes PUT, the upsert) asks for the object
            # a PUT would replace: a collection URL names none, which DRF skips as a 404.
            raise Http404
        obj = super().get_object()
        if self.request.method in _WRITES and self.request.headers.get(IF_MATCH) is not None:
            obj = self.precondition(obj, reread=super().get_object)
        # The patient of the object a detail URL names, for the access log: what the response
        # holds may not name them (an appointment's attendance history).
        patient_id = getattr(obj, "patient_id", None)
        if patient_id is not None:
            self._object_patient_ids = [patient_id]
        return obj

    def representation(self, obj: Any) -> Any:
        """The object as a detail GET shows it (what its ETag is made from)."""
        action = self.action
        self.action = "retrieve"
        try:
            return self.get_serializer(obj).data
        finally:
            self.action = action

    def precondition(self, obj: Any, *, reread: Any = None) -> Any:
        """Refuse the write with a 412 unless `If-Match` names the object's current version.

        The row is locked first and read again under the lock, so the version compared is the
        one the write will replace. `obj` None (an upsert of a record that does not exist yet)
        has no current version: any `If-Match` fails (RFC 9110 §13.1.1).
        """
        header = self.request.headers.get(IF_MATCH)
        if header is None:
            return obj
        if obj is not None and isinstance(obj, Model):
            type(obj)._default_manager.select_for_update().filter(pk=obj.pk).values_list("pk").first()
            obj = reread() if reread is not None else type(obj)._default_manager.get(pk=obj.pk)
        wanted = parse_etags(header)
        if obj is None or ("*" not in wanted and etag_of(self.representation(obj)) not in wanted):
            raise PreconditionFailed()
        return obj

    def carries_etag(self, response: Any) -> bool:
        """A 2xx whose body is the object the URL names (or a new one it created)."""
        if isinstance(response, RenderedResponse):
            return False  # a list page
        data = getattr(response, "data", None)
        if not 200 <= response.status_code < 300 or not isinstance(data, dict) or "results" in data:
            return False
        if self.action in ("create", "upsert"):
            return self.etag_identity in data
        return "pk" in self.kwargs and str(data.get(self.etag_identity)) == str(self.kwargs["pk"])

    def options(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        """The resource's metadata. On a detail URL, only for an object of the caller's clinic:
        another clinic's id is a 404 here as with every other method (no existence leak)."""
        if "pk" in self.kwargs and not self.is_schema_generation:
            self.get_object()
        return super().options(request, *args, **kwargs)

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method != "OPTIONS" and self.carries_etag(response):
            response["ETag"] = etag_of(response.data)
        if not self.is_schema_generation:
            self.log_access(request, response)
        return response

    def log_access(self, request: Any, response: Any) -> None:
        """One access event for this request, if an identified caller read, wrote or was refused
        something (a 400 or 405 touched nothing, nor does an allowed OPTIONS; a 401 has no caller
        to name)."""
        caller: Caller | None = getattr(request, "_aftercare_caller", None)
        if caller is None or getattr(self, "_access_logged", False):
            return
        path_ids = [self.kwargs[name] for name in ("pk",) if name in self.kwargs]
        path_patients = [self.kwargs[self.access_path_patient]] if self.access_path_patient in self.kwargs else []
        if response.status_code in (403, 404):
            action: AccessAction = AccessAction.DENIED
            object_ids, patient_ids = path_ids, path_patients
        elif request.method == "OPTIONS":
            return  # metadata: it reads no record
        elif 200 <= response.status_code < 300:
            action = self.access_action(request, response)
            object_ids, patient_ids = self.accessed(getattr(response, "data", None))
            object_patients = getattr(self, "_object_patient_ids", [])
            object_ids, patient_ids = [*path_ids, *object_ids], [*path_patients, *object_patients, *patient_ids]
        else:
            return
        name = self.action or ""
        access_record(
            request=request._request,
            clinic=caller.clinic,
            user=caller.user,
            client=caller.client,
            action=action,
            object_type=self.basename if name in _STANDARD_ACTIONS or not name else f"{self.basename}.{name}",
            object_ids=object_ids,
            patient_ids=patient_ids,
            status_code=response.status_code,
        )

    def access_action(self, request: Any, response: Any) -> AccessAction:
        if self.action in self.access_actions:
            return self.access_actions[self.action]
        if request.method in SAFE_METHODS:
            return AccessAction.VIEW if "pk" in self.kwargs else AccessAction.LIST
        if request.method == "DELETE":
            return AccessAction.DELETE
        return AccessAction.CREATE if response.status_code == status.HTTP_201_CREATED else AccessAction.UPDATE

    def accessed(self, data: Any) -> tuple[list[Any], list[Any]]:
        """The ids of the rows a response holds, and of their patients."""
        if isinstance(data, dict) and isinstance(data.get("results"), list):
            rows = data["results"]
        elif isinstance(data, list):
            rows = data
        else:
            rows = [data]
        rows = [row for row in rows if isinstance(row, dict)]
        key = self.access_patient_key
        return [row.get("id") for row in rows], [row.get(key) for row in rows] if key else []

    def select(self, clinic: Clinic) -> QuerySet[Any]:
        """The selector behind this resource, for the caller's clinic."""
        raise NotImplementedError

    def get_queryset(self) -> QuerySet[Any]:
        if self.is_schema_generation:
            return self.get_serializer_class().Meta.model.objects.none()  # type: ignore[attr-defined,no-any-return]
        return self.select(self.caller.clinic)

    def validated(self, serializer_class: Any = None, instance: Any = None, *, partial: bool = False) -> dict[str, Any]:
        """The request body, validated by this view's serializer (or the one given); unknown fields
        are refused (`clinic.api.serializers.unknown_fields`)."""
        resource = self.get_serializer_class()
        serializer = (serializer_class or resource)(
            instance, data=self.request.data, partial=partial, context=self.get_serializer_context()
        )
        return validated_strictly(serializer, resource)

    def created(self, obj: Any) -> Response:
        """201 with the new object and where it lives."""
        location = reverse(f"api:{self.basename}-detail", kwargs={"pk": obj.pk})
        return Response(self.get_serializer(obj).data, status=status.HTTP_201_CREATED, headers={"Location": location})

    def page_in_sql(self, queryset: QuerySet[Any]) -> Response | None:
        """The page read, rendered and logged by the database in one statement (clinic.api.sqlpage),
        where the list is plain columns of one table; None for DRF's own path."""
        request, paginator = self.request, self.paginator
        caller: Caller | None = getattr(request, "_aftercare_caller", None)
        if not self.lists_in_sql or caller is None or self.is_schema_generation:
            return None
        if not isinstance(paginator, CursorPagination) or not is_utc():
            return None
        row = row_sql(self.get_serializer_class(), queryset.model)
        if row is None:
            return None
        # The access log names the ids of a row's patient column (none where the row has none).
        patient_sql = row.columns.get(self.access_patient_key or "")
        if patient_sql is not None and patient_sql not in row.uuid_columns:
            return None
        queryset, keys = paginator.prepare(queryset, request, self)

        def log(object_ids_sql: str, patient_ids_sql: str) -> tuple[str, list[Any]]:
            return access_event_cte(
                request=request._request,
                clinic=caller.clinic,
                user=caller.user,
                client=caller.client,
                action=self.access_action(request, None),
                object_type=self.basename,
                object_ids_sql=object_ids_sql,
                patient_ids_sql=patient_ids_sql,
                status_code=status.HTTP_200_OK,
            )

        page = read_page(
            queryset,
            row,
            keys,
            size=paginator.page_size_value,
            reverse=paginator.reverse,
            patient_sql=patient_sql,
            log=log,
        )
        if page is None:
            return None
        self._access_logged = True
        return page_response(paginator, page)

    def paginate_queryset(self, queryset: QuerySet[Any]) -> Any:
        """A list page of plain columns is read, rendered and logged in SQL (`page_in_sql`: the
        page is then empty here, and `get_paginated_response` answers what SQL wrote), else read
        as `.values()` rows: no model instances to build, and (in UTC) its instants come already
        written as text."""
        if self.action == "list" and isinstance(queryset, QuerySet):
            self._rendered_page = self.page_in_sql(queryset)
            if self._rendered_page is not None:
                return []
        serializer_class: Any = self.get_serializer_class()
        columns = getattr(serializer_class, "plain_columns", lambda: None)()
        if self.action == "list" and columns is not None and isinstance(queryset, QuerySet):
            paginator_ordering = getattr(self.paginator, "ordering", None) or ()
            ordering = {field.lstrip("-") for field in (*(self.ordering_fields or ()), *paginator_ordering)}
            # The cursor is made from the ordering columns: those are read as instants too (and
            # rendered from their text).
            needed = {"id", "created_at", *ordering}
            as_text = serializer_class.instant_columns() if timezone.get_current_timezone_name() == "UTC" else []
            plain = [
                column
                for column in dict.fromkeys([*columns, *sorted(needed)])
                if column in needed or column not in as_text
            ]
            queryset = queryset.values(*plain, **{ISO_PREFIX + column: UtcIsoInstant(column) for column in as_text})
        return super().paginate_queryset(queryset)

    def get_paginated_response(self, data: Any) -> Response:
        rendered: Response | None = getattr(self, "_rendered_page", None)
        return rendered if rendered is not None else super().get_paginated_response(data)

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
