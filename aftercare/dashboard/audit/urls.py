from django.urls import URLPattern, URLResolver, path

from aftercare.dashboard.audit import access, clinic_settings

urlpatterns: list[URLPattern | URLResolver] = [
    path("patients/<uuid:patient_id>/access/", access.patient_access, name="patient_access"),
    path("access-log/", access.access_log, name="access_log"),
    path("access-log/export.csv", access.access_log_export, name="access_log_export"),
    path("clinic-settings/", clinic_settings.clinic_settings, name="clinic_settings"),
]
