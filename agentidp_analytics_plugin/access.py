"""Who may read analytics: the one access pipeline every view of the plugin goes through.

The design's order, for the JSON API and the tab alike:
flag gate (404) -> tenant (401) -> tier (403) -> rate limit (429),
then each view reads its parameters (400) and asks the service.

The two audiences differ only where they must: the API learns the tenant
from the host's Bearer-token resolver and counts against ``ANALYTICS_RATELIMIT``
(plus a per-address limit before authentication); the tab learns it from the
host's dashboard session and counts against ``ANALYTICS_RATELIMIT_UI``. Every
refusal is an :class:`~.errors.AnalyticsError`; the API renders it as the JSON
error shape, the tab as a state of the page or panel (see
:mod:`.signin` for the one refusal the tab hands to the host).

The flag gate applies to the whole blueprint, tab and assets included: with
``ANALYTICS_ENABLED`` false it raises a plain ``NotFound`` that the plugin
deliberately does not handle, so the host answers with its own 404, as if the
plugin were not installed.
"""

from __future__ import annotations

import enum

from flask import current_app, g, request
from werkzeug.exceptions import NotFound

from . import errors
from .blueprint import bp
from .config import runtime_flag
from .errors import AnalyticsError
from .host import Tenant
from .state import get_state
from .tiers import plan_required_message


class PlanRequired(AnalyticsError):
    """403 ``ANALYTICS_NOT_AVAILABLE``: the tenant's plan has no analytics. The tab shows its upgrade panel.

    The message names the host's paid plans and the tenant's own (see :mod:`.tiers`);
    ``tier`` is kept for the panel.
    """

    def __init__(self, tier: str) -> None:
        super().__init__(403, errors.ANALYTICS_NOT_AVAILABLE, plan_required_message(tier))
        self.tier = tier


class Audience(enum.Enum):
    """Who is asking: an API client with a token, or a person in the host's dashboard."""

    API = "api"
    TAB = "tab"


class AnalyticsDisabled(NotFound):
    """``ANALYTICS_ENABLED`` is false: left to the host's 404 handling on purpose."""


@bp.before_request
def _flag_gate() -> None:
    if not runtime_flag("ANALYTICS_ENABLED"):
        raise AnalyticsDisabled()


def analytics_allowed(tenant: Tenant) -> bool:
    """Paid tiers see analytics; every tier does while ``ANALYTICS_FREE_TIER`` is on (both read per request)."""
    if runtime_flag("ANALYTICS_FREE_TIER"):
        return True
    paid = {t.lower() for t in current_app.config["ANALYTICS_PAID_TIERS"]}
    return tenant.tier.lower() in paid


def authorise(audience: Audience) -> Tenant:
    """The tenant this request reads for, after the tenant, tier and rate-limit checks.

    Raises :class:`AnalyticsError`: 401 ``UNAUTHORIZED`` (no tenant), 403
    ``ANALYTICS_NOT_AVAILABLE`` (tier; never counted against a limit), 429
    ``RATE_LIMITED`` (the audience's per-tenant limit). Database outages in a
    host resolver propagate for the caller's 503 handling.
    """
    state = get_state()
    resolve = state.resolve_api_tenant if audience is Audience.API else state.resolve_ui_tenant
    tenant = resolve(request)
    if tenant is None:
        if audience is Audience.API:
            state.limiter.check_unauthenticated()
            raise AnalyticsError(
                401,
                errors.UNAUTHORIZED,
                "Send a valid tenant API token as 'Authorization: Bearer <token>'.",
                headers={"WWW-Authenticate": 'Bearer realm="analytics"'},
            )
        raise AnalyticsError(401, errors.UNAUTHORIZED, "Sign in to see your analytics.")
    if not analytics_allowed(tenant):
        raise PlanRequired(tenant.tier)
    g.agentidp_analytics_tenant = tenant
    if audience is Audience.API:
        state.limiter.check_tenant()
    else:
        state.limiter.check_tab()
    return tenant

