"""Dashboard: staff (first sign-in enrolment, invitations, the clinic's staff)."""

from django.urls import URLPattern, URLResolver, path

from aftercare.dashboard.staff import enrol, invite, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("enrol/", enrol.enrol, name="enrol"),
    path("enrol/recovery-codes/", enrol.recovery_codes, name="recovery_codes"),
    path("invite/<str:uidb64>/<str:token>/", invite.invite, name="invite"),
    path("staff/", views.staff, name="staff"),
    path("staff/<uuid:membership_id>/", views.staff_member, name="staff_member"),
]
