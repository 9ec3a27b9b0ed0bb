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
* its latency, from the first ``before_request`` hook to the response.

The plugin's own routes (``/analytics``, its assets, its ``/metrics``) and
static files are never counted. Counting is in memory (see
:mod:`.call_counts`); anything that goes wrong in the hook is logged, counted
in ``agentidp_analytics_call_pattern_errors_total`` and otherwise ignored:
the host's response is never changed or delayed by it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from flask import Flask, Request, Response, g, request

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


def route_of(req: Request) -> str:
    """The bucket's route: the matched template, ``<unmatched>`` when no route matched."""
    rule = req.url_rule
    if rule is None:
        return UNMATCHED
    route = rule.rule.replace("\x1f", "")
    return route if len(route) <= ROUTE_MAX else route[:ROUTE_MAX]


def method_of(req: Request) -> str:
    method = req.method
    return method if method in METHODS else OTHER_METHOD


def status_class(status: int) -> str:
    return STATUS_CLASSES.get(status // 100, "5xx")


def _as_hex(value: Any) -> str:
    return value.hex if isinstance(value, uuid.UUID) else uuid.UUID(str(value)).hex


class CallCapture:
    """The hook's state for one app: who is asking, what is excluded, where counts go."""

    def __init__(
        self,
        counts: CallCounts,
        resolve: CallerResolver,
        excluded: Callable[[Request], bool],
        on_error: Callable[[str], None],
    ) -> None:
        self.counts = counts
        self.resolve = resolve
        self.excluded = excluded
        self.on_error = on_error
        self._logged: set[str] = set()

    def install(self, app: Flask) -> None:
        # First of all before_request hooks, so a host hook that answers early (a 401) is timed too.
        app.before_request_funcs.setdefault(None, []).insert(0, self._started)
        app.after_request(self._finished)

    def _started(self) -> None:
        g._agentidp_analytics_call_started = time.perf_counter()

    def _finished(self, response: Response) -> Response:
        try:
            self._count(response)
        except Exception as exc:
            self.on_error("capture")
            if type(exc).__name__ not in self._logged:
                self._logged.add(type(exc).__name__)
                log.warning("Counting an API call failed (logged once per kind of failure).", exc_info=True)
        return response

    def _count(self, response: Response) -> None:
        if self.excluded(request):
            return
        caller = self.resolve(request)
        if not caller:
            return
        if isinstance(caller, (tuple, list)) and len(caller) == 2:
            tenant, agent = caller
        else:
            raise TypeError(f"the call-pattern resolver must return (tenant_id, agent_id) or None, got {caller!r:.80}")
        now = time.time()
        started = g.get("_agentidp_analytics_call_started")
        micros = int((time.perf_counter() - started) * 1_000_000) if started is not None else 0
        self.counts.record(
            int(now // 86400) + EPOCH_ORDINAL,
            _as_hex(tenant),
            _as_hex(agent) if agent else "",
            method_of(request),
            status_class(response.status_code),
            route_of(request),
            micros,
        )


def tenant_only(api_resolver: Callable[[Request], Any]) -> CallerResolver:
    """The fallback caller: the API tenant resolver's tenant, no agent."""

    def resolve(req: Request) -> tuple[Any, None] | None:
        found = api_resolver(req)
        if not found:
            return None
        tenant = found[0] if isinstance(found, (tuple, list)) else getattr(found, "tenant_id", None)
        return (tenant, None) if tenant else None

    return resolve
