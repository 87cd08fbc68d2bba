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
    app.__dict__["_pool"] = None
    app.amqp.__dict__["_producer_pool"] = None


@contextlib.contextmanager
def publishing_to(url: str) -> Iterator[None]:
    keys = ("broker_url", "broker_transport_options", "task_always_eager")
    saved = {key: app.conf[key] for key in keys}
    app.conf.update(broker_url=url, broker_transport_options={}, task_always_eager=False)
    _drop_connections()
    try:
        yield
    finally:
        app.conf.update(saved)
        _drop_connections()
