"""Telling gunicorn's arbiter that a long response is still making progress.

gunicorn kills a worker it has not heard from for `timeout` seconds (30 by default). A sync worker
reports only between requests, so a streamed response longer than that (an access-log export of a
few hundred thousand rows) was cut off part-way while the client had already received a 200. The
configuration (clinic/gunicorn_conf.py) hands each worker's `notify` to this module when the worker
starts; code that streams calls `alive()` each time it has made progress (a chunk of rows sent).
A response that stops making progress is still stopped by the timeout, as a stuck worker should be.
Outside gunicorn (runserver, tests, Celery) there is nobody to tell and `alive()` does nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

_notify: Callable[[], None] | None = None
_last = 0.0
# notify() touches a file; once a second is plenty against a timeout of tens of seconds.
_EVERY = 1.0


def attach(notify: Callable[[], None] | None) -> None:
    """Called by gunicorn's `post_worker_init` hook with the worker's `notify`."""
    global _notify
    _notify = notify


def alive() -> None:
    global _last
    if _notify is None:
        return
    now = time.monotonic()
    if now - _last >= _EVERY:
        _last = now
        _notify()
