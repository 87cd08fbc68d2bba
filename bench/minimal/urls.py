from django.urls import path

from bench.minimal.views import Ping

urlpatterns = [path("ping/", Ping.as_view())]
