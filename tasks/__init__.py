"""Celery entry points: `celery -A tasks worker` / `celery -A tasks beat`."""

from tasks.celery import app

__all__ = ["app"]
