from django.urls import URLPattern, URLResolver, path, register_converter

from aftercare.dashboard.patients import outside, plan, records, series, sheet, views


class RecordKindConverter:
    """The kinds of clinical record the patient page records (`records.KINDS`), and no other path."""

    regex = "|".join(records.KINDS)

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(RecordKindConverter, "record_kind")

urlpatterns: list[URLPattern | URLResolver] = [
    path("patients/<uuid:patient_id>/", views.patient_page, name="patient"),
    path("patients/<uuid:patient_id>/plan/", plan.plan_page, name="patient_plan"),
    path("patients/<uuid:patient_id>/plan/print/", sheet.plan_sheet, name="patient_plan_print"),
    path("patients/<uuid:patient_id>/series/new/", series.series_new, name="patient_series_new"),
    path("patients/<uuid:patient_id>/outside-meetings/new/", outside.outside_meeting_new, name="patient_outside_new"),
    path("patients/<uuid:patient_id>/<record_kind:kind>/new/", records.record_new, name="patient_record_new"),
    path(
        "patients/<uuid:patient_id>/<record_kind:kind>/<uuid:record_id>/entered-in-error/",
        records.record_entered_in_error,
        name="patient_record_error",
    ),
]
