"""Mounted at `/c/`: the check-in page and the check-ins' opt-out. Both paths hold a token."""

from django.urls import path

from aftercare.checkins.optout import checkins_opt_out
from aftercare.checkins.views import checkin_page

urlpatterns = [
    path("stop/<str:token>/", checkins_opt_out, name="checkins-opt-out"),
    path("<str:token>/", checkin_page, name="checkins-page"),
]
