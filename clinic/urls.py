from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from clinic.api.throttling import RevokeTokenView, TokenView
from clinic.health import health

urlpatterns = [
    path("health/", health, name="health"),
    path("admin/", admin.site.urls),
    # Only the client-credentials endpoints of the toolkit: no authorization or app-management views.
    path("o/token/", TokenView.as_view(), name="oauth2-token"),
    path("o/revoke_token/", RevokeTokenView.as_view(), name="oauth2-revoke-token"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The init script comes as a file of its own (`?script`): the CSP allows no inline script.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="clinic/swagger_ui.html"),
        name="docs",
    ),
    path("api/v1/", include("clinic.api.urls", namespace="api")),
    # Patients' one-click unsubscribe from reminder emails: the signed token is the credential.
    path("r/unsubscribe/", include("aftercare.reminders.unsubscribe")),
    # Patients' check-ins (the private page and the opt-out): the signed token is the credential.
    path("c/", include("aftercare.checkins.urls")),
    # The clinician dashboard (server-rendered pages for staff), from `/`.
    path("", include("aftercare.dashboard.urls", namespace="dashboard")),
]

handler400 = "clinic.api.errors.bad_request"
handler404 = "clinic.api.errors.not_found"
handler500 = "clinic.api.errors.server_error"
