"""The JSON API: ``/analytics/usage-summary``, ``/analytics/agent-activity``, ``/analytics/token-trends``.

Views only translate HTTP; the pipeline order is the design's:
flag gate (404) -> tenant (401) -> tier (403) -> rate limit (429) ->
parameters (400) -> service (cache, then database) -> response.

The flag gate applies to the whole blueprint, tab included: with
``ANALYTICS_ENABLED`` false it raises a plain ``NotFound`` that the plugin
deliberately does not handle, so the host answers with its own 404, as if the
plugin were not installed. Every other refusal is an ``AnalyticsError``
rendered as ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, current_app, g, request
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import NotFound

from . import errors
from .aggregation import utc_today
from .blueprint import bp
from .errors import AnalyticsError, database_outage_as_503
from .host import Tenant
from .params import AGENT_ACTIVITY, TOKEN_TRENDS, USAGE_SUMMARY, Query, parse_query

#: Response header with the last fully aggregated UTC day (also in the body as ``dataCompleteThrough``).
FRESHNESS_HEADER = "X-Analytics-Data-Complete-Through"


class AnalyticsDisabled(NotFound):
    """``ANALYTICS_ENABLED`` is false: left to the host's 404 handling on purpose."""


@bp.before_request
def _flag_gate() -> None:
    if not current_app.config["ANALYTICS_ENABLED"]:
        raise AnalyticsDisabled()


def analytics_allowed(tenant: Tenant) -> bool:
    """Paid tiers see analytics; every tier does while ``ANALYTICS_FREE_TIER`` is on."""
    if current_app.config["ANALYTICS_FREE_TIER"]:
        return True
    paid = {t.lower() for t in current_app.config["ANALYTICS_PAID_TIERS"]}
    return tenant.tier.lower() in paid


def _state():
    return current_app.extensions["agentidp_analytics"]


def _authorised_tenant() -> Tenant:
    state = _state()
    tenant = state.resolve_api_tenant(request)
    if tenant is None:
        state.limiter.check_unauthenticated()
        raise AnalyticsError(
            401,
            errors.UNAUTHORIZED,
            "Send a valid tenant API token as 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": 'Bearer realm="analytics"'},
        )
    if not analytics_allowed(tenant):
        raise AnalyticsError(
            403,
            errors.ANALYTICS_NOT_AVAILABLE,
            "Analytics require the Pro or Enterprise plan.",
        )
    g.agentidp_analytics_tenant = tenant
    state.limiter.check_tenant()
    return tenant


def _answer(endpoint: str, fetch: Callable[[Tenant, Query], dict]) -> Response:
    try:
        with database_outage_as_503():
            tenant = _authorised_tenant()
            query = parse_query(request.args, endpoint, utc_today())
            data = fetch(tenant, query)
    except AnalyticsError as exc:
        return exc.to_response()
    # The spec's field order (tenantId, period, ...), whatever the host's JSON
    # provider sorts by default; only this response's serialisation changes.
    response = current_app.response_class(
        current_app.json.dumps(data, sort_keys=False) + "\n", mimetype="application/json"
    )
    response.headers["Cache-Control"] = "private, no-store"
    if data.get("dataCompleteThrough"):
        response.headers[FRESHNESS_HEADER] = data["dataCompleteThrough"]
    return response


@bp.errorhandler(sa_exc.OperationalError)
@bp.errorhandler(sa_exc.InterfaceError)
def _database_outage(exc: Exception) -> Response:
    """Anything under /analytics that meets an unreachable database answers 503, never a crash."""
    try:
        with database_outage_as_503():
            raise exc
    except AnalyticsError as outage:
        return outage.to_response()


@bp.get("/usage-summary")
def usage_summary() -> Response:
    return _answer(USAGE_SUMMARY, lambda t, q: _state().service.get_usage_summary(t.id, q.from_, q.to))


@bp.get("/agent-activity")
def agent_activity() -> Response:
    return _answer(AGENT_ACTIVITY, lambda t, q: _state().service.get_agent_activity(t.id, q.from_, q.to, q.agent_id))


@bp.get("/token-trends")
def token_trends() -> Response:
    return _answer(TOKEN_TRENDS, lambda t, q: _state().service.get_token_trends(t.id, q.from_, q.to, q.granularity))
