"""The dashboard's addresses. Each area of the dashboard keeps its own `urls.py`."""

from django.urls import include, path

from aftercare.dashboard import signin

app_name = "dashboard"

urlpatterns = [
    path("", signin.home, name="home"),
    path("sign-in/", signin.sign_in, name="sign_in"),
    path("sign-out/", signin.sign_out, name="sign_out"),
    path("clinic/", signin.switch_clinic, name="switch_clinic"),
    path("", include("aftercare.dashboard.staff.urls")),
    path("", include("aftercare.dashboard.caseload.urls")),
    path("", include("aftercare.dashboard.flags.urls")),
    path("", include("aftercare.dashboard.today.urls")),
    path("", include("aftercare.dashboard.patients.urls")),
    path("", include("aftercare.dashboard.audit.urls")),
]
