from django.urls import URLPattern, URLResolver, path

from aftercare.dashboard.patients import outside, plan, records, series, sheet, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("patients/<uuid:patient_id>/", views.patient_page, name="patient"),
    path("patients/<uuid:patient_id>/plan/", plan.plan_page, name="patient_plan"),
    path("patients/<uuid:patient_id>/plan/print/", sheet.plan_sheet, name="patient_plan_print"),
    path("patients/<uuid:patient_id>/series/new/", series.series_new, name="patient_series_new"),
    path("patients/<uuid:patient_id>/outside-meetings/new/", outside.outside_meeting_new, name="patient_outside_new"),
    # Care transitions, medication events, drug screens: a form to record one, and the correction.
    *(
        route
        for kind in records.KINDS.values()
        for route in (
            path(f"patients/<uuid:patient_id>/{kind.slug}/new/", records.record_new, {"kind": kind.slug}, kind.new_url),
            path(
                f"patients/<uuid:patient_id>/{kind.slug}/<uuid:record_id>/entered-in-error/",
                records.record_entered_in_error,
                {"kind": kind.slug},
                kind.error_url,
            ),
        )
    ),
]
