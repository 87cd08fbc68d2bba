"""The product's URLs plus `bench/ping/`: the product's per-request floor (its whole stack,
bearer token, scopes and rate limit, and no work), shown beside the lists; the baseline they are
measured against is `bench/minimal`."""

from typing import Any

from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class Ping(APIView):
    read_scopes = ("patients:read",)

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response({"ok": True})


urlpatterns = [
    path("bench/ping/", Ping.as_view()),
    path("", include("clinic.urls")),
]
