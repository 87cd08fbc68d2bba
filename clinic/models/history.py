"""Change history of clinical tables (django-pghistory): a row per insert, update and delete, made
by a trigger, so bulk `QuerySet.update()` and raw SQL are recorded too. Each row links to the
context of the change: the request (URL), and the caller the API attached (staff user or
integration client) or the task that made it."""

from __future__ import annotations

from typing import TypeVar

import pghistory
from django.db import models

M = TypeVar("M", bound=type[models.Model])


def tracked(model: M) -> M:
    tracker = pghistory.track(
        pghistory.InsertEvent(),
        pghistory.UpdateEvent(),
        pghistory.DeleteEvent(),
        model_name=f"{model.__name__}History",
        obj_field=pghistory.ObjForeignKey(related_name="history"),
        append_only=True,  # the history itself can be neither changed nor deleted
    )
    result: M = tracker(model)
    return result
