"""Dashboard: the caseload and the patient list."""

from django.urls import URLPattern, URLResolver, path

from aftercare.dashboard.caseload import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("caseload/", views.caseload, name="caseload"),
    path("patients/", views.patients, name="patients"),
]
