"""The Django admin for operators and clinic administrators, limited to the clinics a user administers.

Superusers (operators) see every clinic. A staff user sees only the clinics where they hold the
`admin` role, and can neither delete patients nor move records between clinics. Every form field
that refers to a clinic, a user or a clinic's record offers and accepts only objects of those
clinics (`OwnClinicChoices`), whatever id a crafted request posts.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.options import BaseModelAdmin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.forms import ModelChoiceField, ModelMultipleChoiceField
from django.http import HttpRequest
from django_otp.admin import OTPAdminSite

from clinic.admin_forms import MembershipInlineForm, PatientAdminForm, StaffMembershipForm
from clinic.auth.forms import SignInForm
from clinic.models import (
    AccessAction,
    AccessEvent,
    Clinic,
    Consent,
    Disclosure,
    IntegrationClient,
    Patient,
    Role,
    StaffMembership,
    User,
)
from clinic.services.access import access_record
from clinic.services.clinics import membership_identifiers_set, membership_update
from clinic.services.patients import REMINDER_FIELDS, patient_reminders_changed

# Staff sign in with password and authenticator code (or a one-time recovery code); a session that
# has not passed the second factor gets no admin page (django-otp's documented way to do this).
admin.site.__class__ = OTPAdminSite
admin.site.login_form = SignInForm


def administered_clinics(request: HttpRequest) -> QuerySet[Clinic]:
    user = request.user
    if user.is_superuser:
        return Clinic.objects.all()
    if not isinstance(user, User):
        return Clinic.objects.none()
    return Clinic.objects.filter(
        memberships__user=user, memberships__role=Role.ADMIN, memberships__is_active=True, is_active=True
    )


def own_clinic_choices(request: HttpRequest, model: type[Model]) -> QuerySet[Any] | None:
    """What a form field referring to `model` may offer and accept: the clinics the user
    administers, their active staff, and the records of those clinics. None: no limit (operators,
    and models that belong to no clinic)."""
    if request.user.is_superuser:
        return None
    clinics = administered_clinics(request)
    if model is Clinic:
        return clinics
    if model is User:
        members = StaffMembership.objects.filter(clinic__in=clinics, is_active=True).values("user_id")
        return User.objects.filter(pk__in=members)
    if any(field.name == "clinic" for field in model._meta.fields):
        return model._default_manager.filter(clinic__in=clinics)
    return None


class OwnClinicChoices(BaseModelAdmin):  # type: ignore[type-arg]
    """Foreign-key and many-to-many fields (selects, raw ids, autocompletes) limited by
    `own_clinic_choices`: the form field's queryset is also what validates a posted id."""

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> ModelChoiceField:  # type: ignore[type-arg]
        choices = own_clinic_choices(request, db_field.remote_field.model)
        if choices is not None:
            kwargs["queryset"] = choices
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[return-value]

    def formfield_for_manytomany(
        self, db_field: Any, request: HttpRequest, **kwargs: Any
    ) -> ModelMultipleChoiceField | None:  # type: ignore[type-arg]
        choices = own_clinic_choices(request, db_field.remote_field.model)
        if choices is not None:
            kwargs["queryset"] = choices
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class ClinicScopedAdmin(OwnClinicChoices, admin.ModelAdmin):  # type: ignore[type-arg]
    """Rows of the clinics the user administers; fields refer only to those clinics' objects."""

    clinic_field = "clinic"

    def _is_clinic_admin(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff and administered_clinics(request).exists())

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser or self._is_clinic_admin(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.clinic_field}__in": administered_clinics(request)})


class AccessLoggedAdmin(ClinicScopedAdmin):
    """Pages on patient records write to the access log, as the API does: a list page one event per
    clinic naming the rows it showed, an object page a view (or, after a save, an update)."""

    object_type = "admin"

    def _patient_of(self, obj: Any) -> Any:
        return obj.pk if isinstance(obj, Patient) else getattr(obj, "patient_id", None)

    def _log(
        self, request: HttpRequest, clinic: Clinic | None, action: str, ids: list[Any], objects: list[Any], status: int
    ) -> None:
        user = request.user if isinstance(request.user, User) else None
        if clinic is not None and user is not None:
            access_record(
                request=request, clinic=clinic, user=user, client=None, action=action,
                object_type=self.object_type, object_ids=ids,
                patient_ids=[self._patient_of(obj) for obj in objects], status_code=status,
            )  # fmt: skip

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        response = super().changelist_view(request, extra_context)
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        if changelist is not None:
            by_clinic: dict[Any, list[Any]] = {}
            for obj in changelist.result_list:
                by_clinic.setdefault(obj.clinic_id, []).append(obj)
            clinics = Clinic.objects.in_bulk(list(by_clinic))
            for clinic_id, objects in by_clinic.items():
                ids = [obj.pk for obj in objects]
                self._log(request, clinics.get(clinic_id), AccessAction.LIST, ids, objects, response.status_code)
        return response

    def _object_page(self, request: HttpRequest, object_id: str, status_code: int, action: str) -> None:
        obj = self.get_object(request, unquote(object_id))
        if obj is not None:
            self._log(request, obj.clinic, action, [obj.pk], [obj], status_code)
        else:
            # Not one of the clinics this user administers (or no such record): a refused attempt,
            # logged against a clinic the user does administer.
            clinic = administered_clinics(request).first()
            self._log(request, clinic, AccessAction.DENIED, [object_id], [], status_code)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> Any:
        response = super().change_view(request, object_id, form_url, extra_context)
        saved = request.method == "POST" and response.status_code == 302
        self._object_page(request, object_id, response.status_code, AccessAction.UPDATE if saved else AccessAction.VIEW)
        return response

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None) -> Any:
        response = super().history_view(request, object_id, extra_context)
        self._object_page(request, object_id, response.status_code, AccessAction.VIEW)
        return response

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None) -> Any:
        try:
            return super().delete_view(request, object_id, extra_context)
        except PermissionDenied:
            # Patient records are never deleted here: the attempt itself is worth knowing about.
            self._object_page(request, object_id, 403, AccessAction.DENIED)
            raise


@admin.register(Clinic)
class ClinicAdmin(ClinicScopedAdmin):
    clinic_field = "pk"
    list_display = ["name", "slug", "time_zone", "is_active"]
    search_fields = ["name", "slug"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # New tenants are provisioned by operators (`manage.py create_clinic`).
        return request.user.is_superuser


class MembershipInline(OwnClinicChoices, admin.TabularInline):  # type: ignore[type-arg]
    model = StaffMembership
    form = MembershipInlineForm
    extra = 0
    fields = ["clinic", "role", "is_active"]

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(StaffMembership)
class StaffMembershipAdmin(ClinicScopedAdmin):
    form = StaffMembershipForm
    list_display = ["user", "clinic", "role", "is_active", "external_id"]
    list_filter = ["role", "is_active"]
    search_fields = ["user__username", "user__email", "external_id", "npi"]
    autocomplete_fields = ["user"]

    def get_fields(self, request: HttpRequest, obj: Model | None = None) -> list[Any]:
        if obj is None:
            return ["user", "clinic", "role", "is_active", "external_id", "npi"]
        return ["user", "clinic", "role", "is_active", "external_id", "npi", "reassign_to", "unassign_patients"]

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        # A membership is one person in one clinic: another person or clinic is another membership.
        return [] if obj is None else ["user", "clinic"]

    def save_model(self, request: HttpRequest, obj: StaffMembership, form: Any, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        membership_update(
            membership=obj,
            role=obj.role,
            is_active=obj.is_active,
            reassign_to=form.cleaned_data.get("reassign_to"),
            unassign_patients=bool(form.cleaned_data.get("unassign_patients")),
        )
        membership_identifiers_set(membership=obj, external_id=obj.external_id, npi=obj.npi)


@admin.register(Patient)
class PatientAdmin(AccessLoggedAdmin):
    object_type = "admin.patient"
    form = PatientAdminForm
    list_display = ["family_name", "given_name", "external_id", "status", "intake_date"]
    list_filter = ["status", "preferred_language", "reminders_opt_in", "checkins_opt_in"]
    search_fields = ["family_name", "given_name", "external_id"]
    readonly_fields = ["id", "created_at", "updated_at"]
    raw_id_fields = ["assigned_clinician"]

    def save_model(self, request: HttpRequest, obj: Patient, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and REMINDER_FIELDS.intersection(form.changed_data):
            patient_reminders_changed(patient=obj)


@admin.register(IntegrationClient)
class IntegrationClientAdmin(ClinicScopedAdmin):
    list_display = ["name", "clinic", "is_active"]
    readonly_fields = ["application", "scopes"]
    fields = ["clinic", "name", "application", "scopes", "is_active"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Created with `manage.py create_api_client`, which prints the secret once.
        return False


class ReadOnlyClinicScopedAdmin(AccessLoggedAdmin):
    """Records only services write (through the API): the admin shows them and changes nothing."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Consent)
class ConsentAdmin(ReadOnlyClinicScopedAdmin):
    object_type = "admin.consent"
    # No patient names in the list: the patient's id is enough to find them.
    list_display = ["id", "patient_id", "recipient_name", "signed_on", "expires_on", "revoked_at"]
    list_filter = ["recipient_kind"]
    search_fields = ["=id", "=patient__id", "=patient__external_id"]
    date_hierarchy = "created_at"


@admin.register(Disclosure)
class DisclosureAdmin(ReadOnlyClinicScopedAdmin):
    object_type = "admin.disclosure"
    list_display = ["id", "patient_id", "consent_id", "recipient_name", "released_at", "released_by"]
    search_fields = ["=id", "=patient__id", "=consent__id"]
    date_hierarchy = "released_at"


@admin.register(User)
class UserAdmin(BaseUserAdmin):  # type: ignore[type-arg]
    inlines = [MembershipInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(memberships__clinic__in=administered_clinics(request)).distinct()

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser


@admin.register(AccessEvent)
class AccessEventAdmin(ClinicScopedAdmin):
    """The access log, read-only: nothing here can change it (nor can anything else)."""

    list_display = ["at", "actor", "action", "object_type", "status_code", "ip"]
    list_filter = ["action"]
    search_fields = ["=actor", "=request_id"]
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
