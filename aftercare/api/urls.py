from aftercare.api.appointments import AppointmentViewSet
from aftercare.api.checkins import CheckInViewSet
from aftercare.api.dashboard import DashboardViewSet
from aftercare.api.flags import FlagViewSet, RiskRuleViewSet
from aftercare.api.groups import GroupSessionViewSet, OutsideMeetingViewSet, SupportGroupViewSet
from aftercare.api.outreach import OutreachAttemptViewSet
from aftercare.api.plans import PlanViewSet
from aftercare.api.records.medication import MedicationEventViewSet
from aftercare.api.records.screens import DrugScreenViewSet
from aftercare.api.records.transitions import CareTransitionViewSet
from aftercare.api.reminders import ReminderViewSet
from aftercare.api.series import SeriesViewSet
from clinic.api.views import Router

router = Router()
router.register("plans", PlanViewSet, basename="plan")
router.register("appointments", AppointmentViewSet, basename="appointment")
router.register("appointment-series", SeriesViewSet, basename="appointment-series")
router.register("support-groups", SupportGroupViewSet, basename="support-group")
router.register("group-sessions", GroupSessionViewSet, basename="group-session")
router.register("outside-meetings", OutsideMeetingViewSet, basename="outside-meeting")
router.register("reminders", ReminderViewSet, basename="reminder")
router.register("check-ins", CheckInViewSet, basename="check-in")
router.register("flags", FlagViewSet, basename="flag")
router.register("risk-rules", RiskRuleViewSet, basename="risk-rule")
router.register("outreach-attempts", OutreachAttemptViewSet, basename="outreach-attempt")
router.register("care-transitions", CareTransitionViewSet, basename="care-transition")
router.register("medication-events", MedicationEventViewSet, basename="medication-event")
router.register("drug-screens", DrugScreenViewSet, basename="drug-screen")
router.register("dashboard", DashboardViewSet, basename="dashboard")

urlpatterns = router.urls
