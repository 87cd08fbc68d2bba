"""Pointing this process's Celery app at another broker for a while: a closed port (the broker is
down) or a proxy a test can cut. Tasks then go through the broker, not eagerly in process."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import kombu.pools

from tasks.celery import app

# Nothing listens on port 1: connections are refused at once, as when the broker is stopped.
CLOSED_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"


def _drop_connections() -> None:
    # The app keeps a pool of broker connections (and kombu pools of producers on them) made from
    # the URL it had: close them all, so the next publish connects to the URL it has now.
    kombu.pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@contextlib.contextmanager
def publishing_to(url: str, *, queue: str | None = None) -> Iterator[None]:
    conf = app.conf
    saved = (conf.broker_url, conf.broker_transport_options, conf.task_always_eager, conf.task_default_queue)
    conf.broker_url, conf.broker_transport_options, conf.task_always_eager = url, {}, False
    if queue is not None:
        conf.task_default_queue = queue
    _drop_connections()
    try:
        yield
    finally:
        conf.broker_url, conf.broker_transport_options, conf.task_always_eager, conf.task_default_queue = saved
        _drop_connections()
