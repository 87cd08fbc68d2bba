from django.urls import include, path

from clinic.api.access import AccessEventViewSet
from clinic.api.consents import ConsentViewSet, DisclosureViewSet
from clinic.api.patients import PatientViewSet
from clinic.api.staff import StaffViewSet
from clinic.api.views import Router

router = Router()
router.register("patients", PatientViewSet, basename="patient")
router.register("access-events", AccessEventViewSet, basename="access-event")
router.register("staff", StaffViewSet, basename="staff")
router.register(r"patients/(?P<patient_id>[^/.]+)/consents", ConsentViewSet, basename="patient-consent")
router.register(r"patients/(?P<patient_id>[^/.]+)/disclosures", DisclosureViewSet, basename="patient-disclosure")

app_name = "api"
# The domain's resources share the /api/v1/ namespace; named by string, so `clinic` never
# imports `aftercare`.
urlpatterns = [*router.urls, path("", include("aftercare.api.urls"))]
