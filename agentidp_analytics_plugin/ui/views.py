"""The tab's routes: the page, and one HTMX fragment per panel.

Each takes the plugin's one read path: access (:mod:`..access`, the tab's
audience: the host's session, the tab's own rate limit) -> the JSON API's
parameter rules -> the service (and so the same cache and metrics as the
API) -> rendering. Refusals become states of the page or of a panel:

* no session: the host's sign-in page, and back (:mod:`..signin`);
* a plan without analytics: the upgrade panel;
* anything else (bad controls, unknown agent, rate limit, database outage):
  an inline error panel. Fragments answer those with 200, because htmx only
  swaps successful responses; the full page answers an outage or a rate
  limit with its status, the page and the inline panel.

Every answer is the tenant's own data: ``Cache-Control: private, no-store``,
varying on the session cookie and on ``HX-Request`` (the page URL answers a
whole page or just its panels).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from typing import Any

from flask import Response, abort, current_app, make_response, redirect, render_template, request, url_for

from .. import errors
from ..access import Audience, PlanRequired, authorise
from ..aggregation import utc_today
from ..api import represent, with_links
from ..blueprint import bp
from ..errors import AnalyticsError, database_outage_as_503
from ..params import USAGE_SUMMARY, check_shared, parse_query
from ..queries.comparison import previous_period
from ..service import AnalyticsService
from ..signin import signed_out_response
from ..state import get_state
from ..tiers import upgrade_context
from .controls import PANEL_BY_NAME, PANELS, PRESETS, Controls, Links, api_args, canonical_query, read_controls
from .rendering import ErrorState, partial, render_error, render_panel

#: The views whose answers are a tenant's data.
TAB_VIEWS = frozenset({f"{bp.name}.tab", f"{bp.name}.fragment"})


def panel_data(
    service: AnalyticsService, panel: str, tenant_id: uuid.UUID, controls: Controls, today: date
) -> Mapping[str, Any]:
    """Parameters (400) then the service, for one panel: what the tab and the gallery both ask."""
    cfg = current_app.config
    endpoint = PANEL_BY_NAME[panel].endpoint
    q = parse_query(api_args(controls, endpoint), endpoint, today)
    if panel == "summary":
        return service.get_usage_summary(tenant_id, q.from_, q.to, q.agent_id)
    if panel == "heatmap":
        top = None if controls.show_all else cfg["ANALYTICS_HEATMAP_AGENTS"]
        return service.get_agent_activity(tenant_id, q.from_, q.to, q.agent_id, top=top)
    if panel == "trends":
        trends = service.get_token_trends(tenant_id, q.from_, q.to, q.granularity, q.agent_id)
        before = previous_period(q.from_, q.to) if controls.compare else None
        if before is None:
            return trends
        # The overlay is the previous period's own answer: same service call, cache and metrics.
        return {**trends, "previous": service.get_token_trends(tenant_id, *before, q.granularity, q.agent_id)}
    if panel == "calls":
        return service.get_call_patterns(tenant_id, q.from_, q.to, q.agent_id)
    if panel == "insights":  # tenant-wide: the agent filter does not narrow it
        found = service.get_insights(
            tenant_id,
            q.from_,
            q.to,
            dormant_days=cfg["ANALYTICS_DORMANT_DAYS"],
            stale_days=cfg["ANALYTICS_ROTATION_STALE_DAYS"],
            min_failures=cfg["ANALYTICS_INSIGHT_MIN_FAILURES"],
            call_patterns=bool(cfg["ANALYTICS_CALL_PATTERNS_ENABLED"]),
        )
        return with_links(found)
    return service.get_credential_rotations(
        tenant_id,
        q.from_,
        q.to,
        q.agent_id,
        sort=q.sort or controls.sort,
        direction=q.direction,
        stale_days=cfg["ANALYTICS_ROTATION_STALE_DAYS"],
    )


def panel_fragment(
    service: AnalyticsService, panel: str, tenant_id: uuid.UUID, controls: Controls, today: date, links: Links
) -> str:
    """One panel's body; raises AnalyticsError for the caller's inline error state."""
    data = panel_data(service, panel, tenant_id, controls, today)
    return render_panel(panel, data, controls, links, current_app.config["ANALYTICS_HEATMAP_AGENTS"])


def _tab_links() -> Links:
    return Links(
        fragment_url=lambda name, **params: url_for(f"{bp.name}.fragment", panel=name, **params),
        push_url=lambda **params: url_for(f"{bp.name}.tab", **params),
        export_url=lambda name, **params: url_for(f"{bp.name}.export", panel=name, **params),
    )


def _is_htmx_partial_request() -> bool:
    # A history restore asks for the whole page (htmx swaps it in as is).
    return bool(request.headers.get("HX-Request")) and not request.headers.get("HX-History-Restore-Request")


@bp.get("")
def prefix_root() -> Response:
    """The prefix without its trailing slash leads to the tab, as Werkzeug's own redirect would.

    A view of the blueprint, so that with ``ANALYTICS_ENABLED`` off the
    blueprint's flag gate answers the host's 404 (a redirect to the tab would
    reveal the plugin), and no app-wide hook looks at every host request for it.
    """
    location = url_for(f"{bp.name}.tab")
    if request.query_string:
        location += "?" + request.query_string.decode("latin-1")
    return redirect(location, code=308)


@bp.get("/")
def tab() -> Response | str:
    """The Analytics tab; with ``HX-Request`` just its panels (the controls changed)."""
    today = utc_today()
    controls = read_controls(request.args, today)
    panels_only = _is_htmx_partial_request()
    try:
        with database_outage_as_503():
            tenant = authorise(Audience.TAB)
            agents = [] if panels_only else get_state().service.list_agents(tenant.id)
    except AnalyticsError as exc:
        return _page_refusal(exc, panels_only)
    links = _tab_links()
    panels_context = {
        "panels": PANELS,
        "controls": controls,
        "links": links,
        "canonical": canonical_query(controls),
        "period_error": shared_error(controls, today),
    }
    if panels_only:
        response = make_response(partial("panels", **panels_context, oob=True))
        response.headers["HX-Push-Url"] = url_for(f"{bp.name}.tab", **canonical_query(controls))
        return response
    return render_template(
        "agentidp_analytics/tab.html",
        upgrade=False,
        alert=None,
        agents=agents,
        today=today.isoformat(),
        presets=PRESETS,
        tab_url=url_for(f"{bp.name}.tab"),
        **panels_context,
    )


#: What the one error shown in place of every panel says first, by code.
_SHARED_HEADINGS = {"INVALID_AGENT_ID": "That agent can't be shown."}


def shared_error(controls: Controls, today: date) -> ErrorState | None:
    """A mistake in the controls that every panel would report (dates, their order, the agent id), or None.

    Shown once, in place of the panels, with the inputs concerned marked
    invalid; a period too long for some panels only is still each panel's to say.
    """
    try:
        check_shared(api_args(controls, USAGE_SUMMARY), today)
    except AnalyticsError as exc:
        heading = _SHARED_HEADINGS.get(exc.code, "These dates can't be shown.")
        return ErrorState(exc.code, exc.message, heading, _inputs_at_fault(exc.code, controls, today))
    return None


def _inputs_at_fault(code: str, controls: Controls, today: date) -> tuple[str, ...]:
    """The controls to mark invalid: only the malformed date, only a ``to`` after today, both for the wrong order."""
    if code == errors.INVALID_AGENT_ID:
        return ("aa-agent",)
    dates = {"aa-from": controls.from_, "aa-to": controls.to}
    if code == errors.INVALID_DATE:
        return tuple(name for name, raw in dates.items() if raw and not _is_date(raw))
    if code == errors.INVALID_DATE_RANGE and _is_date(controls.to) and date.fromisoformat(controls.to) > today:
        return ("aa-to",)
    return tuple(dates)


def _is_date(raw: str) -> bool:
    try:
        check_shared({"to": raw}, date.max)
    except AnalyticsError:
        return False
    return True


def _page_refusal(exc: AnalyticsError, panels_only: bool) -> Response | str:
    if exc.status == 401:
        return signed_out_response()
    if exc.status == 403:
        upgrade = upgrade_context(exc.tier if isinstance(exc, PlanRequired) else None)
        if panels_only:
            return partial("upgrade", **upgrade)
        return render_template("agentidp_analytics/tab.html", upgrade=True, alert=None, **upgrade)
    error = ErrorState(exc.code, exc.message)
    if panels_only:  # swapped into the panels' place: htmx needs a 200
        return render_error("panels", error)
    page = render_template("agentidp_analytics/tab.html", upgrade=False, alert=error)
    return make_response(page, exc.status, exc.headers)


@bp.get("/fragments/<panel>")
def fragment(panel: str) -> Response | str:
    """One panel's body, from the same service and cache as the JSON API."""
    if panel not in PANEL_BY_NAME:
        abort(404)
    today = utc_today()
    controls = read_controls(request.args, today)
    try:
        with database_outage_as_503():
            tenant = authorise(Audience.TAB)
            return panel_fragment(get_state().service, panel, tenant.id, controls, today, _tab_links())
    except AnalyticsError as exc:
        return _fragment_refusal(exc, panel)


@bp.get("/export/<panel>.csv")
def export(panel: str) -> Response:
    """A panel's data as CSV for the "Download CSV" link: the tab's access and controls, the API's representation.

    The heatmap's export lists every agent, not just the panel's first rows.
    A refusal other than a lost session is the API's JSON error, as for any
    CSV request.
    """
    if panel not in PANEL_BY_NAME:
        abort(404)
    today = utc_today()
    controls = replace(read_controls(request.args, today), show_all=True)
    service = get_state().service
    try:
        with database_outage_as_503():
            tenant = authorise(Audience.TAB)
            data = panel_data(service, panel, tenant.id, controls, today)
    except AnalyticsError as exc:
        return signed_out_response() if exc.status == 401 else exc.to_response()
    endpoint = PANEL_BY_NAME[panel].endpoint
    response = represent(endpoint, dict(data), "csv", service.ttl[endpoint])
    response.vary.add("Cookie")
    return response


def _fragment_refusal(exc: AnalyticsError, panel: str) -> Response | str:
    if exc.status == 401:
        return signed_out_response()
    if exc.status == 403:
        return partial("upgrade", **upgrade_context(exc.tier if isinstance(exc, PlanRequired) else None))
    return make_response(render_error(panel, ErrorState(exc.code, exc.message)), 200, exc.headers)


def refusal(exc: AnalyticsError) -> Response | str:
    """A refusal met outside the views (a host limit, say), as the tab shows it: page or panel."""
    if request.endpoint == f"{bp.name}.fragment":
        panel = (request.view_args or {}).get("panel", "")
        return _fragment_refusal(exc, panel if panel in PANEL_BY_NAME else "page")
    return _page_refusal(exc, _is_htmx_partial_request())


@bp.after_request
def _private(response: Response) -> Response:
    if request.endpoint in TAB_VIEWS:
        response.headers["Cache-Control"] = "private, no-store"
        response.vary.add("Cookie")
        response.vary.add("HX-Request")
    return response
