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

        # Reminders follow a patient's opt-in, email and status, however the patient is changed.
        from aftercare.services.reminders import reminders_sync_patient
        from clinic.services.patients import patient_reminder_hook_register

        patient_reminder_hook_register(reminders_sync_patient)
