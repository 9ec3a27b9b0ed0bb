"""The one error type of the analytics API, and the one JSON shape it renders to.

Every refusal the spec lists (and the few the design adds for malformed
input) is an :class:`AnalyticsError` carrying an HTTP status and a stable
machine-readable code. Views, the access pipeline, the service and the
parameter parser raise it; the JSON API turns it into
``{"error": {"code": ..., "message": ...}}`` (clients branch on ``code``,
never on message text), the tab into a state of the page or panel.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Response, jsonify
from sqlalchemy import exc as sa_exc

log = logging.getLogger(__name__)

# The spec's codes.
INVALID_DATE_RANGE = "INVALID_DATE_RANGE"
INVALID_GRANULARITY = "INVALID_GRANULARITY"
UNAUTHORIZED = "UNAUTHORIZED"
ANALYTICS_NOT_AVAILABLE = "ANALYTICS_NOT_AVAILABLE"
AGENT_NOT_FOUND = "AGENT_NOT_FOUND"
RATE_LIMITED = "RATE_LIMITED"
# Added by the design: malformed input gets its own 400, never a 5xx.
INVALID_DATE = "INVALID_DATE"
INVALID_AGENT_ID = "INVALID_AGENT_ID"
INVALID_PARAMETER = "INVALID_PARAMETER"
# Added: a ``format`` other than ``json`` or ``csv``.
INVALID_FORMAT = "INVALID_FORMAT"
# Added: a method other than GET (HEAD, OPTIONS) on an API URL, with ``Allow``.
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
# Added: the database cannot be reached. An outage to report, not a crash.
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
# Added: something failed on the server's side, so the shape holds even then: the host's side
# of the contract (a resolver raised or answered the wrong shape, a configured table or template
# is missing; logged in full, naming the key), a bug, or a host component failing after the view.
INTERNAL_ERROR = "INTERNAL_ERROR"

#: Seconds a client should wait after a 503 before trying again.
OUTAGE_RETRY_AFTER = 30
#: During an outage every request fails the same way: one warning per this many seconds per process.
OUTAGE_LOG_INTERVAL = 60.0

#: Every code with its status, for the OpenAPI test and the documentation.
CODES: dict[str, int] = {
    INVALID_DATE_RANGE: 400,
    INVALID_GRANULARITY: 400,
    INVALID_DATE: 400,
    INVALID_AGENT_ID: 400,
    INVALID_PARAMETER: 400,
    INVALID_FORMAT: 400,
    UNAUTHORIZED: 401,
    ANALYTICS_NOT_AVAILABLE: 403,
    AGENT_NOT_FOUND: 404,
    METHOD_NOT_ALLOWED: 405,
    RATE_LIMITED: 429,
    INTERNAL_ERROR: 500,
    SERVICE_UNAVAILABLE: 503,
}


class AnalyticsError(Exception):
    """A refusal with an HTTP status and a spec error code.

    ``headers`` carries what a client needs to react (``Retry-After`` on 429,
    ``WWW-Authenticate`` on 401).
    """

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}

    def to_response(self) -> Response:
        response = jsonify(self.body())
        response.status_code = self.status
        response.headers.update(self.headers)
        return response

    def __repr__(self) -> str:
        return f"AnalyticsError({self.status}, {self.code!r}, {self.message!r})"


class ThrottledWarning:
    """Logs one warning per ``interval`` seconds and counts the ones it holds back.

    The next warning says how many were suppressed, so an outage is visible
    in the logs with its size, without one line per failed request.
    """

    def __init__(self, logger: logging.Logger, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self._next = float("-inf")
        self._suppressed = 0
        self._lock = threading.Lock()

    def warn(self, message: str, *args: Any) -> None:
        with self._lock:
            now = self.clock()
            if now < self._next:
                self._suppressed += 1
                return
            suppressed, self._suppressed = self._suppressed, 0
            self._next = now + self.interval
        if suppressed:
            self.logger.warning(
                message + " (%d more like it in the last %.0f s)", *args, suppressed, self.interval
            )
        else:
            self.logger.warning(message, *args)


#: The one log line of a database outage, shared by the request paths that meet it.
outage_log = ThrottledWarning(log, OUTAGE_LOG_INTERVAL)


def is_outage(exc: BaseException) -> bool:
    """Connection-level failures: server down, connection lost, timeouts. Anything else is a bug."""
    return isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)) or (
        isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated
    )


def service_unavailable() -> AnalyticsError:
    return AnalyticsError(
        503,
        SERVICE_UNAVAILABLE,
        "Analytics are unavailable right now; try again shortly.",
        headers={"Retry-After": str(OUTAGE_RETRY_AFTER)},
    )


class HostContractError(AnalyticsError):
    """The host's configuration or code broke the contract: a 500 ``INTERNAL_ERROR``.

    The client sees a generic message; the operator finds ``detail`` (which
    names the ``ANALYTICS_`` key to fix) in the log, with the traceback.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(500, INTERNAL_ERROR, "Analytics failed on the server; the operator can find why in its log.")
        self.detail = detail
        # Raised while handling the host's exception: its traceback goes to the log too.
        log.error("Analytics host contract: %s", detail, exc_info=sys.exc_info()[0] is not None)

    def __str__(self) -> str:
        return self.detail


@contextmanager
def database_outage_as_503() -> Iterator[None]:
    """Turn "cannot reach the database" into a 503 the caller renders as usual.

    Only connection-level failures (``OperationalError``, ``InterfaceError``:
    server down, connection lost, lock timeout) count; any other database
    error is a bug and stays a 500, so it is not hidden.
    """
    try:
        yield
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        outage_log.warn("Analytics database unavailable: %s", describe(exc))
        raise service_unavailable() from exc


def describe(exc: BaseException) -> str:
    """The driver's message of a database error, on one line."""
    return " ".join(str(getattr(exc, "orig", None) or exc).split())
