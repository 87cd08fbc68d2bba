from clinic.api.patients import PatientViewSet
from clinic.api.views import Router

router = Router()
router.register("patients", PatientViewSet, basename="patient")

app_name = "api"
urlpatterns = router.urls
