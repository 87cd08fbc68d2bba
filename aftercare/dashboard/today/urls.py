from django.urls import URLPattern, URLResolver, path

from aftercare.dashboard.today import groups, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("today/", views.today, name="today"),
    path("today/appointments/<uuid:appointment_id>/mark/", views.appointment_mark, name="appointment_mark"),
    path("today/appointments/<uuid:appointment_id>/arrive/", views.appointment_arrive, name="appointment_arrive"),
    path("today/appointments/<uuid:appointment_id>/correct/", views.appointment_correct, name="appointment_correct"),
    path("groups/", groups.groups, name="groups"),
    path("group-sessions/<uuid:session_id>/", groups.group_session, name="group_session"),
]
