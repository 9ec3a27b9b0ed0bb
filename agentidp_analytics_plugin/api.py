"""The JSON API: ``/analytics/usage-summary``, ``/agent-activity``, ``/token-trends``, ``/call-patterns``,
and ``/insights``.

Views only translate HTTP: access (:mod:`.access`: flag 404, tenant 401,
tier 403, rate limit 429) -> parameters (:mod:`.params`, 400) -> service
(cache, then database) -> response, with a strong ``ETag`` and a 304 for a
matching ``If-None-Match`` (:mod:`.conditional`), as JSON or, with
``format=csv`` or ``Accept: text/csv``, as streamed CSV (:mod:`.csv_export`). Every refusal is rendered as
``{"error": {"code", "message"}}``, including the ones Flask's routing makes
before any view runs (a method other than GET: 405 ``METHOD_NOT_ALLOWED``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from flask import Response, current_app, request, url_for
from sqlalchemy import exc as sa_exc
from werkzeug.routing import Rule

from . import errors
from .access import Audience, authorise
from .aggregation import utc_today
from .blueprint import bp
from .caching import CachedAnswer, compact_json
from .conditional import etag_of, not_modified, validators
from .csv_export import csv_lines, filename
from .errors import AnalyticsError, database_outage_as_503
from .host import Tenant
from .params import (
    AGENT_ACTIVITY,
    CALL_PATTERNS,
    INSIGHTS,
    TOKEN_TRENDS,
    USAGE_SUMMARY,
    Query,
    parse_query,
    response_format,
)
from .service import AnalyticsService
from .state import get_state

if TYPE_CHECKING:
    from flask.blueprints import BlueprintSetupState

#: Response header with the last fully aggregated UTC day (also in the body as ``dataCompleteThrough``).
FRESHNESS_HEADER = "X-Analytics-Data-Complete-Through"

Fetch = Callable[[AnalyticsService, Tenant, Query], dict[str, Any]]

#: The API's endpoints (view names) and how each asks the service.
_FETCH: dict[str, tuple[str, Fetch]] = {
    "usage_summary": (
        USAGE_SUMMARY,
        lambda s, t, q: s.get_usage_summary(t.id, q.from_, q.to, q.agent_id),
    ),
    "agent_activity": (
        AGENT_ACTIVITY,
        lambda s, t, q: s.get_agent_activity(t.id, q.from_, q.to, q.agent_id),
    ),
    "token_trends": (
        TOKEN_TRENDS,
        lambda s, t, q: s.get_token_trends(t.id, q.from_, q.to, q.granularity, q.agent_id),
    ),
    "call_patterns": (
        CALL_PATTERNS,
        lambda s, t, q: s.get_call_patterns(t.id, q.from_, q.to, q.agent_id),
    ),
    "insights": (
        INSIGHTS,
        lambda s, t, q: with_links(
            s.get_insights(
                t.id,
                q.from_,
                q.to,
                dormant_days=current_app.config["ANALYTICS_DORMANT_DAYS"],
                stale_days=current_app.config["ANALYTICS_ROTATION_STALE_DAYS"],
                min_failures=current_app.config["ANALYTICS_INSIGHT_MIN_FAILURES"],
                call_patterns=bool(current_app.config["ANALYTICS_CALL_PATTERNS_ENABLED"]),
            )
        ),
    ),
}


def with_links(data: dict[str, Any]) -> dict[str, Any]:
    """Each finding with ``link``: the tab's URL for the state in its ``view`` (the cached answer stays URL-free).

    A finding that names its ``panel`` links to that panel of the page.
    """
    findings = [{**f, "link": _link(f)} for f in data["insights"]]
    return {**data, "insights": findings}


def _link(finding: dict[str, Any]) -> str:
    anchor = f"aa-panel-{finding['panel']}" if finding.get("panel") else None
    return url_for(f"{bp.name}.tab", **finding["view"], _anchor=anchor)


def _answer(view: str) -> Response:
    endpoint, fetch = _FETCH[view]
    try:
        with database_outage_as_503():
            tenant = authorise(Audience.API)
            query = parse_query(request.args, endpoint, utc_today())
            representation = response_format(request.args, request.accept_mimetypes)
            data = fetch(get_state().service, tenant, query)
    except AnalyticsError as exc:
        return exc.to_response()  # JSON, whatever representation was asked for
    return represent(endpoint, data, representation, get_state().service.ttl[endpoint])


def represent(endpoint: str, data: Mapping[str, Any], representation: str, ttl: int) -> Response:
    """The answer as JSON or streamed CSV, with its validators, or a bodiless 304 when the client holds it."""
    etag = etag_of(data, representation)
    if not_modified(request, etag):
        # Revalidated from the cached answer: no body, the same validators and freshness.
        response = current_app.response_class(status=304)
        del response.headers["Content-Type"]
    elif representation == "csv":
        response = current_app.response_class(csv_lines(endpoint, data), mimetype="text/csv")
        response.headers["Content-Disposition"] = f'attachment; filename="{filename(endpoint, data)}"'
    else:
        # The spec's field order (tenantId, period, ...), whatever the host's JSON
        # provider sorts by default; a cache hit serves the bytes it read as they are.
        response = current_app.response_class([compact_json(data), b"\n"], mimetype="application/json")
    validators(response, etag, ttl)
    response.vary.add("Accept")
    fresh = data.complete_through if isinstance(data, CachedAnswer) else data.get("dataCompleteThrough")
    if fresh:
        response.headers[FRESHNESS_HEADER] = fresh
    return response


@bp.get("/usage-summary")
def usage_summary() -> Response:
    return _answer("usage_summary")


@bp.get("/agent-activity")
def agent_activity() -> Response:
    return _answer("agent_activity")


@bp.get("/token-trends")
def token_trends() -> Response:
    return _answer("token_trends")


@bp.get("/call-patterns")
def call_patterns() -> Response:
    return _answer("call_patterns")


@bp.get("/insights")
def insights() -> Response:
    return _answer("insights")


@bp.errorhandler(sa_exc.OperationalError)
@bp.errorhandler(sa_exc.InterfaceError)
def _database_outage(exc: Exception) -> Response:
    """Anything under /analytics that meets an unreachable database answers 503, never a crash."""
    try:
        with database_outage_as_503():
            raise exc
    except AnalyticsError as outage:
        return outage.to_response()


#: What the API's URLs serve: the ``Allow`` header of its 405.
ALLOWED_METHODS = "GET, HEAD, OPTIONS"
#: The API's URLs under the blueprint's prefix.
API_PATHS = ("/usage-summary", "/agent-activity", "/token-trends", "/call-patterns", "/insights")


def _method_not_allowed() -> Response:
    """Any other method on an API URL gets the API's error shape, with ``Allow``.

    Routed like the API's views (see :func:`_route_other_methods`), so only
    the API's URLs pay for it and the blueprint's flag gate runs first
    (switched off: the host's 404). An app-wide hook asking the URL map on
    every 405 would run on every request of the host instead.
    """
    return AnalyticsError(
        405,
        errors.METHOD_NOT_ALLOWED,
        f"The analytics API only reads: use one of {ALLOWED_METHODS}.",
        headers={"Allow": ALLOWED_METHODS},
    ).to_response()


def _route_other_methods(state: BlueprintSetupState) -> None:
    """A rule for every method on each API URL, after its GET rule, ending at :func:`_method_not_allowed`.

    Added to the URL map directly: Flask's ``add_url_rule`` always names the
    methods, and a Werkzeug rule without ``methods`` matches any method, the
    unusual ones (``PROPFIND``, ``BREW``) too. Rules of the same path are
    tried in the order they were added, so GET, HEAD and OPTIONS still reach
    the views.
    """
    endpoint = f"{bp.name}.method_not_allowed"
    state.app.view_functions[endpoint] = _method_not_allowed
    prefix = (state.url_prefix or "").rstrip("/")
    for path in API_PATHS:
        state.app.url_map.add(Rule(prefix + path, endpoint=endpoint))


bp.record(_route_other_methods)
