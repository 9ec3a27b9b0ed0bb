"""The edge of the plugin's prefix: every request under it answers in the plugin's shape, in bounded time.

Views turn database outages into 503s themselves, but two things happen
outside any view and outside Flask's error handlers:

* the host's session, opened by the host's resolver, is rolled back at
  teardown; if PostgreSQL dropped the connection meanwhile, that rollback
  raises after the response was made, and the WSGI server answers its own
  HTML 500 instead of the answer the view had ready;
* anything else that raises after the view (another extension's teardown)
  does the same.

So the plugin closes the host session itself at the end of its requests,
treating a dead connection as the outage it is (the answer stands), and wraps
the host's WSGI app with :class:`PrefixBoundary`, which (for paths under the
prefix only) sets the round-trip bound of :mod:`.engines` for the request and,
as the last resort, turns whatever still escapes into the API's JSON error or
the tab's inline panel. Paths outside the prefix pass through untouched.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, current_app, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import InternalServerError, TooManyRequests

from . import errors
from .blueprint import bp
from .engines import request_bound

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]

#: The tab's inline error panel, standalone: it is served when templates may be what failed.
ERROR_PANEL = '<div class="analytics-panel-error" role="alert" data-code="{code}"><p>{message}</p></div>'


def error_panel(failure: errors.AnalyticsError) -> str:
    return ERROR_PANEL.format(code=failure.code, message=failure.message)


class PrefixBoundary:
    """WSGI middleware for one path prefix: a database bound per request and a last-resort answer."""

    def __init__(
        self,
        wsgi_app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]],
        prefix: str,
        bound: Callable[[], float | None],
        propagate: Callable[[], bool],
    ) -> None:
        self.wsgi_app = wsgi_app
        self.prefix = prefix.rstrip("/")
        self.bound = bound
        self.propagate = propagate

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path != self.prefix and not path.startswith(self.prefix + "/"):
            return self.wsgi_app(environ, start_response)
        started = False

        def tracking_start_response(*args: Any) -> Any:
            nonlocal started
            started = True
            return start_response(*args)

        token = request_bound.set(self.bound())
        try:
            return self.wsgi_app(environ, tracking_start_response)
        except Exception as exc:
            if self.propagate():
                raise
            return self._last_resort(path, exc, start_response, replace=started)
        finally:
            request_bound.reset(token)

    def _last_resort(self, path: str, exc: Exception, start_response: StartResponse, *, replace: bool) -> list[bytes]:
        outage = errors.is_outage(exc)
        if outage:
            errors.outage_log.warn("Analytics database unavailable after the view answered: %s", errors.describe(exc))
            failure = errors.service_unavailable()
        else:
            log.error("Request %s failed outside the plugin's error handling.", path, exc_info=exc)
            failure = internal_error()
        tab = path in (self.prefix, self.prefix + "/") or path.startswith(self.prefix + "/fragments/")
        if tab:
            body = error_panel(failure).encode()
            # htmx swaps only successful answers: a panel shows its error inline.
            status = 200 if path.startswith(self.prefix + "/fragments/") else failure.status
            content_type = "text/html; charset=utf-8"
        else:
            body = (json.dumps(failure.body()) + "\n").encode()
            status = failure.status
            content_type = "application/json"
        headers = [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            *failure.headers.items(),
        ]
        status_line = f"{status} {_REASONS.get(status, 'Error')}"
        if replace:
            # Headers were set (the view had answered) but not sent: exc_info lets the server replace them.
            start_response(status_line, headers, sys.exc_info())
        else:
            start_response(status_line, headers)
        return [body]


_REASONS = {200: "OK", 500: "Internal Server Error", 503: "Service Unavailable"}


def internal_error() -> errors.AnalyticsError:
    return errors.AnalyticsError(500, errors.INTERNAL_ERROR, "Something went wrong on our side; try again later.")


def install(app: Flask, bound: Callable[[], float | None]) -> None:
    """Wrap ``app.wsgi_app`` for the blueprint's prefix."""
    app.wsgi_app = PrefixBoundary(  # type: ignore[method-assign]
        app.wsgi_app,
        app.config["ANALYTICS_URL_PREFIX"],
        bound,
        propagate=lambda: bool(app.config["PROPAGATE_EXCEPTIONS"] or app.testing or app.debug),
    )


@bp.teardown_request
def _close_host_session(_exc: BaseException | None) -> None:
    """Close the host session the resolver opened, before Flask-SQLAlchemy's teardown would.

    The plugin's views are done with it. If its connection died meanwhile,
    the rollback fails; the answer already made stands, and the second
    ``remove`` finds the connection invalidated and has nothing left to do.
    """
    state = current_app.extensions.get("agentidp_analytics")
    if state is None:  # the blueprint served alone (the gallery): no host session to close
        return
    session = state.db.session
    try:
        session.remove()
    except SQLAlchemyError as exc:
        errors.outage_log.warn("Analytics request: closing the host's session failed: %s", errors.describe(exc))
        session.remove()


@bp.errorhandler(InternalServerError)
def _internal_error(_exc: InternalServerError) -> Response | tuple[str, int]:
    """A bug under the prefix still answers in the plugin's shape (JSON, or the tab's panel)."""
    failure = internal_error()
    if request.endpoint in ("agentidp_analytics.tab", "agentidp_analytics.fragment"):
        return error_panel(failure), 200 if request.endpoint.endswith("fragment") else 500
    return failure.to_response()


@bp.errorhandler(TooManyRequests)
def _host_rate_limit(exc: TooManyRequests) -> Response | str:
    """A limit the host put on the plugin's routes on purpose answers like the plugin's own: JSON or the tab's panel.

    (The host's default and application limits never reach here: see :mod:`.ratelimit`.)
    """
    failure = errors.AnalyticsError(
        429,
        errors.RATE_LIMITED,
        "Too many analytics requests; retry after the number of seconds in Retry-After.",
        headers={"Retry-After": str(_retry_after(exc))},
    )
    if request.endpoint in ("agentidp_analytics.tab", "agentidp_analytics.fragment"):
        from .ui.views import refusal  # the tab's rendering; imported late, it imports this blueprint

        return refusal(failure)
    return failure.to_response()


def _retry_after(exc: TooManyRequests) -> int:
    """Seconds until the exceeded window ends at the latest: Flask-Limiter's ``RateLimitExceeded`` names its limit."""
    try:
        return max(1, int(exc.limit.limit.get_expiry()))  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a plain TooManyRequests: no window to tell
        return 60
