from __future__ import annotations

from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    """Stable pages under concurrent writes: a cursor, not an offset.

    Ordered by creation time by default; `?ordering=updated_at` suits incremental sync with
    `updated_since`.
    """

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
