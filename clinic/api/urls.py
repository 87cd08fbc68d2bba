from django.urls import include, path

from clinic.api.patients import PatientViewSet
from clinic.api.views import Router

router = Router()
router.register("patients", PatientViewSet, basename="patient")

app_name = "api"
# The domain's resources share the /api/v1/ namespace; named by string, so `clinic` never
# imports `aftercare`.
urlpatterns = [*router.urls, path("", include("aftercare.api.urls"))]
