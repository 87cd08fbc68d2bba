from django.apps import AppConfig


class ClinicConfig(AppConfig):
    name = "clinic"
    label = "clinic"
    verbose_name = "Clinic organisation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the OpenAPI extensions (authentication scheme) with drf-spectacular.
        from clinic.api import schema  # noqa: F401
