"""gunicorn's configuration: `gunicorn --config python:clinic.gunicorn_conf clinic.wsgi:application`
(the image's command). Anything given on the command line after it still applies.

The access log shows what Django's own logs show of a request (clinic.privacy): the method, the
path with ids and typed text masked, the status, the size, the duration and the request id. Never
the query string (an `external_id`, a name searched for), a token in a path, a Referer (the
previous page's query string), a header's value or the client's address: an address beside a
clinic's unsubscribe page says who its patients are. The request id leads to the access log in the
database, which keeps the address under the clinic's access control.
"""

from __future__ import annotations

import datetime
from typing import Any

from gunicorn.glogging import Logger

from clinic import heartbeat
from clinic.privacy import DropRequestDetails, redact_path, redact_target

accesslog = "-"
access_log_format = '%(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
logger_class = "clinic.gunicorn_conf.RedactingLogger"


def post_worker_init(worker: Any) -> None:
    """A streamed response that is making progress says so (clinic/heartbeat.py): the timeout then
    stops a stuck worker, not a long export."""
    heartbeat.attach(worker.notify)


# Header values an access-log format may name; any other header (Cookie, Authorization, …) reads "-".
_REQUEST_HEADERS = frozenset({"x-request-id", "x-forwarded-proto", "content-type", "content-length"})
_RESPONSE_HEADERS = frozenset({"x-request-id", "content-type", "content-length"})


class RedactingLogger(Logger):
    """gunicorn's logger with every request redacted, whatever `access_log_format` names."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        # The error log names requests too ("Error handling request /…", an invalid request line).
        for handler in [*self.error_log.handlers, *self.access_log.handlers]:
            if not any(isinstance(existing, DropRequestDetails) for existing in handler.filters):
                handler.addFilter(DropRequestDetails())

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: datetime.timedelta) -> dict[str, Any]:
        given = super().atoms(resp, req, environ, request_time)
        atoms = {key: value for key, value in given.items() if not key.startswith("{")}
        for name in _REQUEST_HEADERS:
            if f"{{{name}}}i" in given:
                atoms[f"{{{name}}}i"] = given[f"{{{name}}}i"]
        for name in _RESPONSE_HEADERS:
            if f"{{{name}}}o" in given:
                atoms[f"{{{name}}}o"] = given[f"{{{name}}}o"]
        if "{location}o" in given:
            atoms["{location}o"] = redact_target(str(given["{location}o"]))
        method = environ.get("REQUEST_METHOD", "-")
        atoms["r"] = f"{method} {redact_target(str(environ.get('RAW_URI', '')))} {environ.get('SERVER_PROTOCOL', '-')}"
        atoms["U"] = redact_path(str(environ.get("PATH_INFO", "")))
        atoms["q"] = ""
        atoms["u"] = "-"
        referer = environ.get("HTTP_REFERER")
        atoms["f"] = redact_target(str(referer)) if referer else "-"
        return atoms
