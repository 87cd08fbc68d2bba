from django.apps import AppConfig


class AftercareConfig(AppConfig):
    name = "aftercare"
    label = "aftercare"
    verbose_name = "Aftercare"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The aftercare categories of a disclosure (`clinic` never imports `aftercare`).
        from aftercare.selectors.release import release_providers_register

        release_providers_register()
