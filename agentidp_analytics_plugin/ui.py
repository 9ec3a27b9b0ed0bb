"""The Analytics tab: the full page and the HTMX fragments of its four panels.

Views are thin: read the controls, validate them with the JSON API's own
parameter rules, call the same service (and so the same cache) as the API, and
render a partial. The pure "presenter" functions turn the service's JSON
shapes into what the templates need; the gallery feeds them mock payloads, so
the tab and the gallery render through one code path.

Fragments answer 200 even for user-facing errors (range too long, unknown
agent): those are states of a panel, rendered inline, and htmx only swaps
successful responses. An expired session answers 401 with ``HX-Refresh`` so
the host's own login flow takes over.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    make_response,
    render_template,
    request,
    url_for,
)

from . import errors, rotations
from .aggregation import utc_today
from .api import analytics_allowed
from .blueprint import bp
from .errors import AnalyticsError, database_outage_as_503
from .params import AGENT_ACTIVITY, TOKEN_TRENDS, USAGE_SUMMARY, parse_query

PRESETS: tuple[str, ...] = ("7", "30", "90")
DEFAULT_PRESET = "30"
GRANULARITIES = ("day", "week")


@dataclass(frozen=True)
class Panel:
    name: str
    title: str


PANELS: tuple[Panel, ...] = (
    Panel("summary", "Summary"),
    Panel("heatmap", "Agent activity"),
    Panel("trends", "Token trends"),
    Panel("rotations", "Credential rotations"),
)
PANEL_NAMES = frozenset(p.name for p in PANELS)

#: Colour scale of the heatmap: a neutral grey for "no calls", then viridis
#: (perceptually even and readable with every common colour-vision
#: deficiency) from light to dark. analytics.js and analytics.css hold the
#: same list; the legend is rendered from the bins computed here.
HEATMAP_STEPS = 6


# --------------------------------------------------------------------------- controls


@dataclass(frozen=True)
class Controls:
    """The tab's controls as the user set them (raw strings, validated later by params)."""

    range: str
    from_: str
    to: str
    agent_id: str
    granularity: str
    sort: str = rotations.DEFAULT_SORT
    direction: str = rotations.DEFAULT_DIRECTION
    show_all: bool = False


def read_controls(args: Mapping[str, str], today: date) -> Controls:
    """Read the query string of the tab or a fragment.

    A preset (``range=7|30|90``) wins over dates: "last N days" is the N
    complete UTC days ending yesterday. Today is not aggregated until the next
    night's run, so ending a preset today would end every chart in a drop to
    zero that is not real. N days exactly, so the 90-day preset fits the
    heatmap's 90-day limit. Dates without a preset mean a custom range.
    """
    chosen = args.get("range", "")
    if chosen not in PRESETS and chosen != "custom":
        chosen = "custom" if (args.get("from") or args.get("to")) else DEFAULT_PRESET
    if chosen in PRESETS:
        last_complete = today - timedelta(days=1)
        from_, to = (last_complete - timedelta(days=int(chosen) - 1)).isoformat(), last_complete.isoformat()
    else:
        from_, to = args.get("from", "").strip(), args.get("to", "").strip()
    sort = args.get("sort", "")
    if sort not in rotations.SORT_KEYS:
        sort = rotations.DEFAULT_SORT
    direction = args.get("dir", "")
    if direction not in ("asc", "desc"):
        direction = rotations.DEFAULT_DIRECTIONS[sort]
    return Controls(
        range=chosen,
        from_=from_,
        to=to,
        agent_id=args.get("agentId", "").strip(),
        granularity=args.get("granularity", "day").strip() or "day",
        sort=sort,
        direction=direction,
        show_all=args.get("all") == "1",
    )


def api_args(controls: Controls, *, with_agent: bool = True, with_granularity: bool = False) -> dict[str, str]:
    """The controls as JSON API query parameters (empty ones left out, so defaults apply)."""
    args = {"from": controls.from_, "to": controls.to}
    if with_agent:
        args["agentId"] = controls.agent_id
    if with_granularity:
        args["granularity"] = controls.granularity
    return {k: v for k, v in args.items() if v}


def canonical_query(controls: Controls, **overrides: Any) -> dict[str, str]:
    """The shortest query string that reproduces the view: what the URL bar shows."""
    c = replace(controls, **overrides) if overrides else controls
    query: dict[str, str] = {"range": c.range}
    if c.range == "custom":
        query.update({k: v for k, v in (("from", c.from_), ("to", c.to)) if v})
    if c.agent_id:
        query["agentId"] = c.agent_id
    if c.granularity != "day":
        query["granularity"] = c.granularity
    if (c.sort, c.direction) != (rotations.DEFAULT_SORT, rotations.DEFAULT_DIRECTION):
        query.update(sort=c.sort, dir=c.direction)
    if c.show_all:
        query["all"] = "1"
    return query


@dataclass(frozen=True)
class Links:
    """How fragments link back: to other fragments, and to the page URL to push."""

    fragment_url: Callable[..., str]
    push_url: Callable[..., str] | None
    #: Appended to element ids, so several copies of a panel can share a page (the gallery).
    suffix: str = ""


@dataclass(frozen=True)
class ErrorState:
    code: str
    message: str


# --------------------------------------------------------------------------- presenters


def _fmt_number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


bp.add_app_template_filter(_fmt_number, "agentidp_analytics_number")


def summary_context(payload: Mapping[str, Any]) -> dict[str, Any]:
    s = payload["summary"]
    cards = [
        {"label": "API calls", "value": s["totalApiCalls"], "hint": None},
        {"label": "Tokens issued", "value": s["totalTokenIssuances"], "hint": None},
        {"label": "Credential rotations", "value": s["totalCredentialRotations"], "hint": None},
        {"label": "Active agents", "value": s["activeAgentCount"], "hint": None},
        {"label": "Average API calls per day", "value": s["averageDailyApiCalls"], "hint": None},
        {
            "label": "Peak API calls in a day",
            "value": s["peakDailyApiCalls"],
            "hint": f"on {s['peakDate']}" if s.get("peakDate") else None,
        },
    ]
    empty = not any(s[k] for k in ("totalApiCalls", "totalTokenIssuances", "totalCredentialRotations"))
    return {"cards": cards, "period": payload["period"], "empty": empty}


def _period_dates(period: Mapping[str, str]) -> list[date]:
    start, end = date.fromisoformat(period["from"]), date.fromisoformat(period["to"])
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _round_up(value: int) -> int:
    """Round up to two significant digits, for legend bounds people can read."""
    unit = 10 ** max(0, len(str(value)) - 2)
    return -(-value // unit) * unit


def heatmap_bins(values: Iterable[int], steps: int = HEATMAP_STEPS) -> list[tuple[int, int]]:
    """Inclusive (low, high) ranges of the colour steps above zero, from 1 to the largest value.

    The bounds are quantiles of the non-zero cells, so each colour holds a
    similar share of them: with even-width steps, one very busy agent puts
    every other cell in the lowest colour and the heatmap shows nothing.
    """
    nonzero = sorted(v for v in values if v > 0)
    if not nonzero:
        return []
    maximum, count = nonzero[-1], len(nonzero)
    highs: list[int] = []
    for i in range(1, steps + 1):
        quantile = nonzero[min(count, math.ceil(i * count / steps)) - 1]
        high = min(_round_up(quantile), maximum)
        if not highs or high > highs[-1]:
            highs.append(high)
    highs[-1] = maximum
    lows = [1, *(h + 1 for h in highs[:-1])]
    return list(zip(lows, highs, strict=True))


def heatmap_context(activity: Mapping[str, Any], controls: Controls, limit: int) -> dict[str, Any]:
    """Rows (busiest first, capped at ``limit`` unless "show all"), cells and the legend."""
    dates = _period_dates(activity["period"])
    index = {d.isoformat(): i for i, d in enumerate(dates)}
    agents = list(activity["agents"])
    shown = agents if controls.show_all else agents[:limit]
    cells: list[list[int]] = []
    rows = []
    for a, agent in enumerate(shown):
        calls = [0] * len(dates)
        totals = {"apiCalls": 0, "tokenIssuances": 0, "credentialRotations": 0}
        for day in agent["dailyActivity"]:
            d = index.get(day["date"])
            if d is None:
                continue
            cells.append([a, d, day["apiCalls"], day["tokenIssuances"], day["credentialRotations"]])
            calls[d] = day["apiCalls"]
            for key in totals:
                totals[key] += day[key]
        rows.append({"id": agent["agentId"], "name": agent["agentName"], "calls": calls, "totals": totals})
    bins = heatmap_bins(c[2] for c in cells)
    payload = {
        "dates": [d.isoformat() for d in dates],
        "agents": [r["name"] for r in rows],
        "cells": cells,
        "bins": [high for _, high in bins],
    }
    return {
        "rows": rows,
        "dates": dates,
        "bins": bins,
        "payload": payload,
        "total": activity.get("agentCount", len(agents)),
        "shown": len(shown),
        "limit": limit,
        "show_all": controls.show_all,
        "empty": not agents,
        "period": activity["period"],
    }


SERIES = (
    ("totalIssuances", "Total issuances"),
    ("successfulIssuances", "Successful"),
    ("failedIssuances", "Failed"),
    ("uniqueAgents", "Unique agents"),
)


def trends_context(trends: Mapping[str, Any]) -> dict[str, Any]:
    points = trends["dataPoints"]
    payload = {
        "granularity": trends["granularity"],
        "labels": [p["date"] for p in points],
        "series": [{"key": key, "label": label, "data": [p[key] for p in points]} for key, label in SERIES],
    }
    empty = not any(p["totalIssuances"] or p["uniqueAgents"] for p in points)
    return {
        "points": points,
        "series": SERIES,
        "payload": payload,
        "granularity": trends["granularity"],
        "empty": empty,
        "period": trends["period"],
    }


ROTATION_COLUMNS = (
    ("agent", "Agent"),
    ("rotations", "Rotations in period"),
    ("last_rotation", "Last rotation"),
    ("mean_days", "Mean days between rotations"),
    ("stale", "Status"),
)


def rotations_context(
    rows: list[dict[str, Any]], controls: Controls, links: Links, stale_days: int
) -> dict[str, Any]:
    columns = []
    for key, label in ROTATION_COLUMNS:
        active = key == controls.sort
        direction = (
            ("desc" if controls.direction == "asc" else "asc") if active else rotations.DEFAULT_DIRECTIONS[key]
        )
        params = canonical_query(controls, sort=key, direction=direction, show_all=False)
        columns.append(
            {
                "key": key,
                "label": label,
                "aria_sort": ("ascending" if controls.direction == "asc" else "descending") if active else None,
                "url": links.fragment_url("rotations", **params),
                "push": links.push_url(**params) if links.push_url else None,
                "next": "ascending" if direction == "asc" else "descending",
            }
        )
    return {
        "rows": rows,
        "columns": columns,
        "stale_days": stale_days,
        "stale_count": sum(1 for r in rows if r["stale"]),
        "empty": not rows,
    }


# --------------------------------------------------------------------------- rendering


def _partial(name: str, **context: Any) -> str:
    return render_template(f"agentidp_analytics/partials/{name}.html", **context)


def render_summary(payload: Mapping[str, Any], suffix: str = "") -> str:
    return _partial("summary", **summary_context(payload), suffix=suffix)


def render_heatmap(activity: Mapping[str, Any], controls: Controls, links: Links, limit: int) -> str:
    ctx = heatmap_context(activity, controls, limit)
    toggle = canonical_query(controls, show_all=not controls.show_all)
    return _partial("heatmap", **ctx, toggle_url=links.fragment_url("heatmap", **toggle), suffix=links.suffix)


def render_trends(trends: Mapping[str, Any], suffix: str = "") -> str:
    return _partial("trends", **trends_context(trends), suffix=suffix)


def render_rotations(rows: list[dict[str, Any]], controls: Controls, links: Links, stale_days: int) -> str:
    return _partial("rotations", **rotations_context(rows, controls, links, stale_days), suffix=links.suffix)


def render_error(panel: str, error: ErrorState, suffix: str = "") -> str:
    return _partial("error", panel=panel, error=error, suffix=suffix)


# --------------------------------------------------------------------------- views


def _state() -> Any:
    return current_app.extensions["agentidp_analytics"]


def _gate() -> tuple[uuid.UUID, bool] | Response:
    """Tenant (401) and tier: returns (tenant id, may see analytics).

    The ANALYTICS_ENABLED flag is not checked here: the blueprint's gate in
    api.py answers the host's 404 before any view of the plugin runs.
    """
    tenant = _state().resolve_ui_tenant(request)
    if tenant is None:
        if request.headers.get("HX-Request"):
            response = make_response("", 401)
            response.headers["HX-Refresh"] = "true"
            return response
        abort(401)
    return tenant.id, analytics_allowed(tenant)


def _tab_links() -> Links:
    return Links(
        fragment_url=lambda name, **params: url_for("agentidp_analytics.fragment", panel=name, **params),
        push_url=lambda **params: url_for("agentidp_analytics.tab", **params),
    )


def _is_htmx_partial_request() -> bool:
    # A history restore asks for the whole page (htmx swaps it in as is).
    return bool(request.headers.get("HX-Request")) and not request.headers.get("HX-History-Restore-Request")


@bp.get("/")
def tab() -> Response | str:
    """The Analytics tab; with ``HX-Request`` just its panels (the controls changed)."""
    gate = _gate()
    if isinstance(gate, Response):
        return gate
    tenant_id, allowed = gate
    today = utc_today()
    controls = read_controls(request.args, today)
    links = _tab_links()
    if not allowed:
        if _is_htmx_partial_request():
            return _partial("upgrade")
        return render_template("agentidp_analytics/tab.html", upgrade=True)
    panels_context = {"panels": PANELS, "controls": controls, "links": links, "canonical": canonical_query(controls)}
    if _is_htmx_partial_request():
        response = make_response(_partial("panels", **panels_context, oob=True))
        response.headers["HX-Push-Url"] = url_for("agentidp_analytics.tab", **canonical_query(controls))
        return response
    return render_template(
        "agentidp_analytics/tab.html",
        upgrade=False,
        agents=rotations.tenant_agents(tenant_id),
        today=today.isoformat(),
        presets=PRESETS,
        tab_url=url_for("agentidp_analytics.tab"),
        **panels_context,
    )


@bp.get("/fragments/<panel>")
def fragment(panel: str) -> Response | str:
    """One panel's body, from the same service and cache as the JSON API."""
    if panel not in PANEL_NAMES:
        abort(404)
    today = utc_today()
    controls = read_controls(request.args, today)
    try:
        with database_outage_as_503():
            gate = _gate()
            if isinstance(gate, Response):
                return gate
            tenant_id, allowed = gate
            if not allowed:
                return _partial("upgrade")
            return _render_panel(panel, tenant_id, controls, today)
    except AnalyticsError as exc:
        return render_error(panel, ErrorState(exc.code, exc.message))
    except rotations.InvalidAgentId as exc:
        return render_error(panel, ErrorState("INVALID_AGENT_ID", str(exc)))


def _render_panel(panel: str, tenant_id: uuid.UUID, controls: Controls, today: date) -> str:
    """One panel's fragment; raises AnalyticsError for the caller's inline error state."""
    cfg, service = current_app.config, _state().service
    if panel == "summary":
        q = parse_query(api_args(controls, with_agent=False), USAGE_SUMMARY, today)
        return render_summary(service.get_usage_summary(tenant_id, q.from_, q.to))
    if panel == "heatmap":
        q = parse_query(api_args(controls), AGENT_ACTIVITY, today)
        top = None if controls.show_all else cfg["ANALYTICS_HEATMAP_AGENTS"]
        activity = service.get_agent_activity(tenant_id, q.from_, q.to, q.agent_id, top=top)
        return render_heatmap(activity, controls, _tab_links(), cfg["ANALYTICS_HEATMAP_AGENTS"])
    if panel == "trends":
        q = parse_query(api_args(controls, with_agent=False, with_granularity=True), TOKEN_TRENDS, today)
        return render_trends(service.get_token_trends(tenant_id, q.from_, q.to, q.granularity))
    q = parse_query(api_args(controls, with_agent=False), USAGE_SUMMARY, today)
    agent_id = rotations.parse_agent_id(controls.agent_id)
    rows = rotations.rotation_table(
        tenant_id,
        q.from_,
        q.to,
        agent_id=agent_id,
        sort=controls.sort,
        direction=controls.direction,
        stale_days=cfg["ANALYTICS_ROTATION_STALE_DAYS"],
    )
    if agent_id is not None and not rows and not rotations.belongs_to(tenant_id, agent_id):
        # The same answer as the API's for unknown and other tenants' agents: nothing leaks.
        raise AnalyticsError(404, errors.AGENT_NOT_FOUND, "No agent with this id belongs to your tenant.")
    return render_rotations(rows, controls, _tab_links(), cfg["ANALYTICS_ROTATION_STALE_DAYS"])
