"""The opt-in request hook that counts the host's API calls per endpoint (``ANALYTICS_CALL_PATTERNS_ENABLED``).

For every request of the host, after its view has answered, the hook asks
who called: ``(tenant_id, agent_id)`` (``agent_id`` None for a call no agent
made), or None for a request that is not an authenticated API call, which is
then not counted. The answer is the ``flask.g`` attribute named by
``ANALYTICS_CALL_PATTERNS_CALLER_ATTR``, where the host's authentication left
it (the cheapest way), or ``ANALYTICS_CALL_PATTERNS_RESOLVER(request)``.
Without either, the API tenant resolver decides, and every call counts
without an agent. A counted call adds one to its bucket:

* the UTC day;
* the route *template* Flask matched (``request.url_rule.rule``, e.g.
  ``/agents/<uuid:agent_id>/credentials``), never the raw path, so the
  number of buckets is bounded by the host's routes; a request no route
  matched (404, 405) counts under the one route ``<unmatched>``;
* the method (``GET``, ``POST``, ... ; any other method is ``OTHER``);
* the status class (``2xx`` .. ``5xx``);
* its latency, from before the host's first ``before_request`` function to the final response.

The plugin's own routes (``/analytics``, its assets, its ``/metrics``) and
static files are never counted. The hook appends the call to its bucket in
the process's buffer (:mod:`.call_counts`, no lock taken), keyed by what the request has at
hand; ids in hex, method and status classes are worked out per bucket when
the buffer is shipped, off the request path. Anything that goes wrong in the hook is logged, counted in
``agentidp_analytics_call_pattern_errors_total`` and otherwise ignored: the
host's response is never changed or delayed by it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from flask import Flask, Request, Response, g, request
from werkzeug.routing import Rule

from .call_buckets import UNMATCHED, route_of
from .call_counts import AS_GIVEN, CallCounts

log = logging.getLogger(__name__)

CallerResolver = Callable[[Request], Any]


class CallCapture:
    """The hook's state for one app: who is asking, what is excluded, where calls go.

    ``excluded_endpoint(endpoint)`` and ``excluded_path(path)`` say which
    requests are never counted (the plugin's own); the answer for a matched
    route is worked out once per URL rule, so a request pays a dict lookup.
    Per request the hook does as little as it can: the request and ``g``
    from Flask's context variables, the rule's route from a table, the
    caller, and one append to a bucket in the process's buffer. The caller's ids
    in hex and the method and status classes are the shipper thread's work
    (:mod:`.call_counts`), once per bucket, off the request path.
    """

    def __init__(
        self,
        counts: CallCounts,
        resolve: CallerResolver | None,
        excluded_endpoint: Callable[[str], bool],
        excluded_path: Callable[[str], bool],
        on_error: Callable[[str], None],
        *,
        caller_attr: str | None = None,
    ) -> None:
        self.counts = counts
        self.resolve = resolve
        #: ``flask.g``'s attribute holding the caller, read by the hook instead of calling ``resolve``.
        self.caller_attr = caller_attr
        self.excluded_endpoint = excluded_endpoint
        self.excluded_path = excluded_path
        self.on_error = on_error
        self._logged: set[str] = set()
        #: id(rule) -> the rule's route, or None when its endpoint is never counted.
        self._routes: dict[int, str | None] = {}
        #: One cell: (the ``perf_counter`` reading until which the day below holds, the UTC day number).
        self._today: list[tuple[float, int]] = [(float("-inf"), 0)]

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
        app.full_dispatch_request = self.wrap(app.full_dispatch_request)  # type: ignore[method-assign]

    def wrap(self, dispatch: Callable[[], Response]) -> Callable[[], Response]:
        """``dispatch`` (the app's ``full_dispatch_request``) with its call counted after it answers.

        Everything a request does for the count is inline in this one
        function, with what it reads bound to local names, the buffer's
        update included (:meth:`.call_counts.CallCounts.request_path`): on a
        trivial route each Python call, attribute lookup and proxy reach
        costs a measurable share of the request.
        """
        clock = time.perf_counter
        today_cell = self._today
        next_day = self._next_day
        request_context, app_context = _context_getters()
        routes = self._routes
        new_rule = self._new_rule
        unmatched = self._unmatched
        resolve = self.resolve
        attr = self.caller_attr
        failed = self._failed
        unseen = _UNSEEN
        as_given = AS_GIVEN
        live, new_bucket, running, start = self.counts.request_path()

        def full_dispatch_request() -> Response:
            started = clock()
            status = 500  # what Flask answers when an exception leaves this call
            try:
                response = dispatch()
                status = response.status_code
                return response
            finally:
                try:
                    req = request_context().request
                    rule = req.url_rule
                    if rule is None:
                        route = unmatched(req)
                    else:
                        route = routes.get(id(rule), unseen)
                        if route is unseen:
                            route = new_rule(rule)
                    if route is not None:
                        caller = getattr(app_context().g, attr, None) if attr is not None else resolve(req)
                        if caller:
                            now = clock()
                            today = today_cell[0]
                            if now >= today[0]:
                                today = next_day(now)
                            try:
                                tenant, agent = caller
                                agent = None if agent is None else agent.int
                                key = (today[1], tenant.int, agent, req.method, status, route)
                            except (AttributeError, TypeError, ValueError):  # ids as text, or not a pair
                                key = (today[1], caller, as_given, req.method, status, route)
                            bucket = live.get(key)
                            if bucket is None:
                                bucket = live.setdefault(key, new_bucket(key))
                            bucket.append(now - started)
                            if not running[0]:
                                start()
                except Exception as exc:  # noqa: BLE001 - the host's request must never fail because of counting
                    failed(exc)

        return full_dispatch_request

    def _failed(self, exc: Exception) -> None:
        self.on_error("capture")
        if type(exc).__name__ not in self._logged:
            self._logged.add(type(exc).__name__)
            log.warning("Counting an API call failed (logged once per kind of failure).", exc_info=exc)

    def _next_day(self, now: float) -> tuple[float, int]:
        """The UTC day at ``now`` (a ``perf_counter`` reading), and the reading until which it holds.

        A request compares its clock reading with this instead of reading the
        wall clock and dividing it (a tenth of the hook's instructions). The
        wall clock is read here when the day ends, and at least once a
        second, so a wall clock set forward or back moves the day within a
        second of it.
        """
        wall = time.time()
        day = int(wall // 86400)
        today = (now + min((day + 1) * 86400 - wall, DAY_RECHECK_SECONDS), day)
        self._today[0] = today
        return today

    def _unmatched(self, req: Request) -> str | None:
        return None if self.excluded_path(req.path) else UNMATCHED

    def _new_rule(self, rule: Rule) -> str | None:
        route = None if self.excluded_endpoint(rule.endpoint) else route_of(rule)
        self._routes[id(rule)] = route
        return route


#: Seconds at most between two readings of the wall clock for the day a call is counted on.
DAY_RECHECK_SECONDS = 1.0

#: Marks a rule the hook has not met yet (None means "never counted").
_UNSEEN = object()


def _context_getters() -> tuple[Callable[[], Any], Callable[[], Any]]:
    """Getters of the current request context and app context (the hook reads ``.request`` and ``.g`` of them).

    Flask 2.2 and later keep them in two context variables, read with one C
    call each, where the ``request`` and ``g`` proxies cost a Python call
    more. A Flask that keeps them elsewhere is read through its public proxies.
    """
    try:
        from flask.globals import _cv_app, _cv_request
    except ImportError:
        return (
            lambda: SimpleNamespace(request=request._get_current_object()),  # type: ignore[attr-defined]
            lambda: SimpleNamespace(g=g._get_current_object()),  # type: ignore[attr-defined]
        )
    return _cv_request.get, _cv_app.get


def tenant_only(api_resolver: Callable[[Request], Any]) -> CallerResolver:
    """The fallback caller: the API tenant resolver's tenant, no agent."""

    def resolve(req: Request) -> tuple[Any, None] | None:
        found = api_resolver(req)
        if not found:
            return None
        tenant = found[0] if isinstance(found, (tuple, list)) else getattr(found, "tenant_id", None)
        return (tenant, None) if tenant else None

    return resolve
