from django.apps import AppConfig


class ClinicConfig(AppConfig):
    name = "clinic"
    label = "clinic"
    verbose_name = "Clinic organisation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the OpenAPI extensions (authentication scheme) with drf-spectacular.
        # Model text fields take text only in every API serializer, one line unless a TextField
        # (see StrictCharField).
        from django.db import models
        from rest_framework.serializers import ModelSerializer

        from clinic.api import schema  # noqa: F401
        from clinic.api.serializers import CalendarDateField, InstantField, StrictCharField, StrictTextField
        from clinic.auth import signin  # noqa: F401  (the sign-in signal receivers)

        ModelSerializer.serializer_field_mapping[models.CharField] = StrictCharField
        ModelSerializer.serializer_field_mapping[models.TextField] = StrictTextField
        # Dates and instants within the years the API accepts (see InstantField).
        ModelSerializer.serializer_field_mapping[models.DateTimeField] = InstantField
        ModelSerializer.serializer_field_mapping[models.DateField] = CalendarDateField
