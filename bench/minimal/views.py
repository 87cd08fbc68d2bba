"""The baseline's one endpoint: authenticated (bench.minimal.authentication), permitted, a small JSON body."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class Ping(APIView):
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response({"ok": True, "caller": getattr(request.user, "name", None)})
