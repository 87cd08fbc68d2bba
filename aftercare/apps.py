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

        # Open check-ins are cancelled when a patient opts out of them (or stops getting email).
        from aftercare.services.checkins import checkins_sync_patient

        patient_reminder_hook_register(checkins_sync_patient)

        # A disclosure's check-in answers.
        from aftercare.selectors.checkins import checkins_release_provider_register

        checkins_release_provider_register()
