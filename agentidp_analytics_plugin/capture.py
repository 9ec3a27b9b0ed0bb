"""The opt-in request hook that counts the host's API calls per endpoint (``ANALYTICS_CALL_PATTERNS_ENABLED``).

For every request of the host, after its view has answered, the hook asks
who called: ``ANALYTICS_CALL_PATTERNS_RESOLVER(request)`` returns
``(tenant_id, agent_id)`` (``agent_id`` None for a call no agent made) or
None for a request that is not an authenticated API call, which is then not
counted. Without that key the API tenant resolver decides, and every call
counts without an agent. A counted call adds one to its bucket:

* the UTC day;
* the route *template* Flask matched (``request.url_rule.rule``, e.g.
  ``/agents/<uuid:agent_id>/credentials``), never the raw path, so the
  number of buckets is bounded by the host's routes; a request no route
  matched (404, 405) counts under the one route ``<unmatched>``;
* the method (``GET``, ``POST``, ... ; any other method is ``OTHER``);
* the status class (``2xx`` .. ``5xx``);
* its latency, from before the host's first ``before_request`` function to the final response.

The plugin's own routes (``/analytics``, its assets, its ``/metrics``) and
static files are never counted. Counting is in memory (see
:mod:`.call_counts`); anything that goes wrong in the hook is logged, counted
in ``agentidp_analytics_call_pattern_errors_total`` and otherwise ignored:
the host's response is never changed or delayed by it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Request, Response, request
from werkzeug.routing import Rule

from .call_counts import CallCounts

log = logging.getLogger(__name__)

UNMATCHED = "<unmatched>"
OTHER_METHOD = "OTHER"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
STATUS_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
#: Longest route template stored (the column's width); longer ones are cut.
ROUTE_MAX = 255
#: The UTC day number of 1970-01-01 (``date.toordinal``): days from a float time without building dates.
EPOCH_ORDINAL = 719163

CallerResolver = Callable[[Request], Any]


def route_of(rule: Rule | None) -> str:
    """The bucket's route: the matched template, ``<unmatched>`` when no route matched."""
    if rule is None:
        return UNMATCHED
    route = rule.rule.replace("\x1f", "")
    return route if len(route) <= ROUTE_MAX else route[:ROUTE_MAX]


def method_of(method: str) -> str:
    return method if method in METHODS else OTHER_METHOD


def status_class(status: int) -> str:
    return STATUS_CLASSES.get(status // 100, "5xx")


class CallCapture:
    """The hook's state for one app: who is asking, what is excluded, where counts go.

    ``excluded_endpoint(endpoint)`` and ``excluded_path(path)`` say which
    requests are never counted (the plugin's own); the answer for a matched
    route is worked out once per URL rule, so a request pays a dict lookup.
    The hook does as little as it can per request: one reach through Flask's
    request proxy, lookups in tables built once (rule -> route, method, status
    class), and the caller's ids kept as the resolver gave them; turning them
    into hex is the shipper's job (:mod:`.call_counts`), off the request path.
    """

    def __init__(
        self,
        counts: CallCounts,
        resolve: CallerResolver,
        excluded_endpoint: Callable[[str], bool],
        excluded_path: Callable[[str], bool],
        on_error: Callable[[str], None],
    ) -> None:
        self.counts = counts
        self.resolve = resolve
        self.excluded_endpoint = excluded_endpoint
        self.excluded_path = excluded_path
        self.on_error = on_error
        self._logged: set[str] = set()
        #: id(rule) -> the rule's route, or None when its endpoint is never counted.
        self._routes: dict[int, str | None] = {}

    def install(self, app: Flask) -> None:
        """Wrap the app's ``full_dispatch_request``: the one call around the host's hooks, view and error handling.

        Measured against the alternatives (instructions per request, see
        docs/benchmarks.md): an ``after_request`` function
        costs about three times the wrapper in Flask's hook machinery alone,
        a ``request_finished`` receiver seven times, and the latency would
        need a WSGI wrapper besides. Inside the wrapper the request context
        is there for the resolver, the response is final (every
        ``after_request`` function has run), and the clock starts before the
        host's first ``before_request`` function (a 401 is timed too).
        """
        dispatch = app.full_dispatch_request
        clock = time.perf_counter
        finished = self._finished

        def full_dispatch_request() -> Response:
            started = clock()
            try:
                response = dispatch()
            except Exception:
                finished(500, started)  # what Flask answers when the exception leaves this call
                raise
            finished(response.status_code, started)
            return response

        app.full_dispatch_request = full_dispatch_request  # type: ignore[method-assign]

    def _finished(self, status: int, started: float) -> None:
        try:
            self._count(request._get_current_object(), status, started)  # type: ignore[attr-defined]
        except Exception as exc:
            self.on_error("capture")
            if type(exc).__name__ not in self._logged:
                self._logged.add(type(exc).__name__)
                log.warning("Counting an API call failed (logged once per kind of failure).", exc_info=True)

    def _unmatched(self, req: Request) -> str | None:
        return None if self.excluded_path(req.path) else UNMATCHED

    def _new_rule(self, rule: Rule) -> str | None:
        route = None if self.excluded_endpoint(rule.endpoint) else route_of(rule)
        self._routes[id(rule)] = route
        return route

    def _count(self, req: Request, status: int, started: float) -> None:
        rule = req.url_rule
        if rule is None:
            route = self._unmatched(req)
        else:
            route = self._routes.get(id(rule), _UNSEEN)
            if route is _UNSEEN:
                route = self._new_rule(rule)
        if route is None:
            return
        caller = self.resolve(req)
        if not caller:
            return
        try:
            tenant, agent = caller
        except (TypeError, ValueError):
            raise TypeError(
                f"the call-pattern resolver must return (tenant_id, agent_id) or None, got {caller!r:.80}"
            ) from None
        self.counts.record(
            int(time.time() // 86400) + EPOCH_ORDINAL,
            tenant,
            agent,
            _METHODS.get(req.method, OTHER_METHOD),
            _STATUS_CLASSES.get(status) or status_class(status),
            route,
            int((time.perf_counter() - started) * 1_000_000),
        )


#: Marks a rule the hook has not met yet (None means "never counted").
_UNSEEN = object()
_METHODS = {method: method for method in METHODS}
_STATUS_CLASSES = {code: status_class(code) for code in range(100, 600)}


def tenant_only(api_resolver: Callable[[Request], Any]) -> CallerResolver:
    """The fallback caller: the API tenant resolver's tenant, no agent."""

    def resolve(req: Request) -> tuple[Any, None] | None:
        found = api_resolver(req)
        if not found:
            return None
        tenant = found[0] if isinstance(found, (tuple, list)) else getattr(found, "tenant_id", None)
        return (tenant, None) if tenant else None

    return resolve
