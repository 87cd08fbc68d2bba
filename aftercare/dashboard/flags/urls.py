"""Dashboard: the flag queue, a flag's page, and the outreach log's form."""

from django.urls import URLPattern, URLResolver, path

from aftercare.dashboard.flags import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("flags/", views.flag_list, name="flags"),
    path("flags/<uuid:flag_id>/", views.flag_page, name="flag"),
    path("flags/<uuid:flag_id>/acknowledge/", views.flag_acknowledge, name="flag_acknowledge"),
    path("flags/<uuid:flag_id>/close/", views.flag_close, name="flag_close"),
    path("patients/<uuid:patient_id>/outreach/", views.patient_outreach, name="patient_outreach"),
]
