"""The component gallery: every Analytics panel in several states, from mock data.

The spec asks for the dashboard components "with mock data in Storybook"; this
is the same idea without a second toolchain. ``/analytics/_gallery`` renders
the real templates through the real HTMX fragment path, fed by the mock
payloads below, which have exactly the JSON API's shapes. It needs no database
and no tenant, so it is off unless ``ANALYTICS_GALLERY_ENABLED`` is set. The
tests use the same mock data (``build_state``), so what a designer reviews is
what the tests check.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask import abort, current_app, render_template, request, url_for

from . import rotations, ui
from .blueprint import bp

#: A fixed "today" so every render of the gallery is identical.
MOCK_TODAY = date(2026, 3, 31)
MOCK_TENANT = uuid.UUID("00000000-0000-4000-8000-000000000001")

#: Agent names that must come out as text, never as markup or script.
HOSTILE_NAMES = (
    "<img src=x onerror=alert(1)>",
    "</script><script>alert(1)</script>",
    "\"'><b>bold</b>&amp;",
    "{{ 7*7 }} ${7*7}",
    "<svg onload=alert(1)>",
)


@dataclass
class GalleryState:
    """One state of every component: the service payloads plus rotation rows."""

    name: str
    title: str
    description: str
    summary: dict[str, Any]
    activity: dict[str, Any]
    trends_day: dict[str, Any]
    trends_week: dict[str, Any]
    rotations: list[dict[str, Any]]
    agents: list[tuple[str, str]] = field(default_factory=list)
    period: tuple[date, date] = (MOCK_TODAY, MOCK_TODAY)

    def trends(self, granularity: str) -> dict[str, Any]:
        return self.trends_week if granularity == "week" else self.trends_day


def _agent_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _period(days: int) -> dict[str, str]:
    return {"from": (MOCK_TODAY - timedelta(days=days - 1)).isoformat(), "to": MOCK_TODAY.isoformat()}


def _build(name: str, title: str, description: str, names: list[str], days: int, seed: int) -> GalleryState:
    """Generate consistent summary/activity/trends/rotations for ``names`` over ``days``."""
    rng = random.Random(seed)
    start = MOCK_TODAY - timedelta(days=days - 1)
    dates = [start + timedelta(days=i) for i in range(days)]
    agents = []
    for rank, agent_name in enumerate(names):
        agent_id = _agent_id(rng)
        scale = max(1.0, 400.0 / (1 + rank * 0.35))
        rotate_every = rng.choice((1, 3, 7, 14, 30, 45, 0))
        daily = []
        for i, day in enumerate(dates):
            if rng.random() < 0.12:
                continue  # a quiet day: the API's dailyActivity is sparse
            weekday_factor = 0.45 if day.weekday() >= 5 else 1.0
            calls = int(scale * weekday_factor * rng.uniform(0.5, 1.5)) + 1
            tokens = max(0, calls // 25 + rng.randint(-1, 2))
            rotations = 1 if rotate_every and (i + rank) % rotate_every == 0 else 0
            daily.append(
                {"date": day.isoformat(), "apiCalls": calls, "tokenIssuances": tokens, "credentialRotations": rotations}
            )
        agents.append({"agentId": agent_id, "agentName": agent_name, "dailyActivity": daily})
    agents.sort(key=lambda a: sum(d["apiCalls"] for d in a["dailyActivity"]), reverse=True)
    agents = [a for a in agents if a["dailyActivity"]]

    tenant = str(MOCK_TENANT)
    period = _period(days)
    by_day: dict[str, dict[str, int]] = {d.isoformat(): {"calls": 0, "ok": 0, "failed": 0, "rot": 0} for d in dates}
    uniques: dict[str, set[str]] = {d.isoformat(): set() for d in dates}
    for agent in agents:
        for row in agent["dailyActivity"]:
            bucket = by_day[row["date"]]
            bucket["calls"] += row["apiCalls"]
            bucket["ok"] += row["tokenIssuances"]
            bucket["rot"] += row["credentialRotations"]
            failed = int(row["tokenIssuances"] * rng.uniform(0, 0.15))
            bucket["failed"] += failed
            if row["tokenIssuances"] or failed:
                uniques[row["date"]].add(agent["agentId"])
    day_points = [
        {
            "date": key,
            "totalIssuances": b["ok"] + b["failed"],
            "successfulIssuances": b["ok"],
            "failedIssuances": b["failed"],
            "uniqueAgents": len(uniques[key]),
        }
        for key, b in by_day.items()
    ]
    week_points: dict[str, dict[str, Any]] = {}
    week_agents: dict[str, set[str]] = {}
    for d in dates:
        monday = (d - timedelta(days=d.weekday())).isoformat()
        point = week_points.setdefault(
            monday,
            {"date": monday, "totalIssuances": 0, "successfulIssuances": 0, "failedIssuances": 0, "uniqueAgents": 0},
        )
        b = by_day[d.isoformat()]
        point["totalIssuances"] += b["ok"] + b["failed"]
        point["successfulIssuances"] += b["ok"]
        point["failedIssuances"] += b["failed"]
        week_agents.setdefault(monday, set()).update(uniques[d.isoformat()])
    for monday, point in week_points.items():
        point["uniqueAgents"] = len(week_agents[monday])

    calls = [b["calls"] for b in by_day.values()]
    peak = max(calls) if calls and max(calls) > 0 else 0
    summary = {
        "tenantId": tenant,
        "period": period,
        "summary": {
            "totalApiCalls": sum(calls),
            "totalTokenIssuances": sum(b["ok"] for b in by_day.values()),
            "totalCredentialRotations": sum(b["rot"] for b in by_day.values()),
            "activeAgentCount": len(agents),
            "averageDailyApiCalls": round(sum(calls) / days) if days else 0,
            "peakDailyApiCalls": peak,
            "peakDate": dates[calls.index(peak)].isoformat() if peak else None,
        },
    }
    rotations = []
    stale_cutoff = MOCK_TODAY - timedelta(days=30)
    for agent in agents:
        rot_days = [date.fromisoformat(r["date"]) for r in agent["dailyActivity"] if r["credentialRotations"]]
        count = len(rot_days)
        last = max(rot_days) if rot_days else None
        rotations.append(
            {
                "agentId": agent["agentId"],
                "agentName": agent["agentName"],
                "rotations": count,
                "lastRotation": last.isoformat() if last else None,
                "meanDaysBetween": round((last - min(rot_days)).days / (count - 1), 1) if count >= 2 else None,
                "stale": last is None or last <= stale_cutoff,
            }
        )
    return GalleryState(
        name=name,
        title=title,
        description=description,
        summary=summary,
        activity={"tenantId": tenant, "period": period, "agents": agents},
        trends_day={"tenantId": tenant, "period": period, "granularity": "day", "dataPoints": day_points},
        trends_week={
            "tenantId": tenant,
            "period": period,
            "granularity": "week",
            "dataPoints": sorted(week_points.values(), key=lambda p: p["date"]),
        },
        rotations=rotations,
        agents=sorted(((a["agentId"], a["agentName"]) for a in agents), key=lambda a: a[1].lower()),
        period=(start, MOCK_TODAY),
    )


def _typical() -> GalleryState:
    names = [f"{kind}-{i:02d}" for i, kind in enumerate(["billing-bot", "support-agent", "crawler", "etl-runner"] * 6)]
    return _build("typical", "Typical tenant", "24 agents over 30 days.", names, 30, seed=1)


def _empty() -> GalleryState:
    return _build("empty", "New tenant", "No activity yet: every panel shows its empty state.", [], 30, seed=2)


def _one_agent() -> GalleryState:
    return _build("one-agent", "One agent", "A single agent over 30 days.", ["solo-agent"], 30, seed=3)


def _many_agents() -> GalleryState:
    names = [f"agent-{i:03d}" for i in range(500)]
    return _build("agents-500", "500 agents", "500 agents over 90 days: the heatmap's largest case.", names, 90, seed=4)


def _long_names() -> GalleryState:
    names = [
        "a-very-long-agent-name-that-keeps-going-" + "x" * 80,
        "Customer Support Escalation Triage Agent For The European Region (Production, Blue/Green Slot B)",
        "ümlaut-ağent-名前-エージェント-" + "ü" * 30,
        "short",
    ]
    return _build("long-names", "Very long names", "Names that must wrap or truncate.", names, 30, seed=5)


def _html_names() -> GalleryState:
    return _build(
        "html-names", "Names full of HTML", "Agent names that must render as text.", list(HOSTILE_NAMES), 14, seed=6
    )


STATES: dict[str, Callable[[], GalleryState]] = {
    "typical": _typical,
    "empty": _empty,
    "one-agent": _one_agent,
    "agents-500": _many_agents,
    "long-names": _long_names,
    "html-names": _html_names,
}

_cache: dict[str, GalleryState] = {}


def build_state(name: str) -> GalleryState:
    """Return the named mock state (built once per process: the data is fixed)."""
    if name not in _cache:
        _cache[name] = STATES[name]()
    return _cache[name]


def _require_enabled() -> None:
    if not current_app.config.get("ANALYTICS_GALLERY_ENABLED", False):
        abort(404)


def _links(state: str) -> ui.Links:
    def fragment_url(name: str, **params: Any) -> str:
        return url_for("agentidp_analytics.gallery_fragment", state=state, panel=name, **params)

    return ui.Links(fragment_url=fragment_url, push_url=None, suffix=f"-{state}")


@bp.get("/_gallery")
def gallery() -> str:
    """Every component, every state, each panel loaded through its own fragment URL."""
    _require_enabled()
    typical = build_state("typical")
    controls = ui.Controls(
        range="30",
        from_=typical.period[0].isoformat(),
        to=typical.period[1].isoformat(),
        agent_id="",
        granularity="day",
    )
    week_links = _links("typical")
    week_links = ui.Links(week_links.fragment_url, None, suffix="-typical-week")
    return render_template(
        "agentidp_analytics/gallery.html",
        states=[(build_state(name), _links(name)) for name in STATES],
        panels=ui.PANELS,
        week_panels=[p for p in ui.PANELS if p.name == "trends"],
        week_links=week_links,
        controls=controls,
        agents=typical.agents,
        today=MOCK_TODAY.isoformat(),
        presets=ui.PRESETS,
        tab_url="#",
        error=ui.ErrorState(
            "INVALID_DATE_RANGE", "Date range exceeds 90 days for agent activity: choose 90 days or fewer."
        ),
    )


@bp.get("/_gallery/<state>/<panel>")
def gallery_fragment(state: str, panel: str) -> str:
    """One panel of one mock state, rendered exactly like the tab's fragment."""
    _require_enabled()
    if state not in STATES or panel not in ui.PANEL_NAMES:
        abort(404)
    mock = build_state(state)
    controls = ui.read_controls(request.args, MOCK_TODAY)
    links = _links(state)
    if request.args.get("granularity") == "week":
        links = ui.Links(links.fragment_url, None, suffix=f"-{state}-week")
    if panel == "summary":
        return ui.render_summary(mock.summary, links.suffix)
    if panel == "heatmap":
        limit = current_app.config.get("ANALYTICS_HEATMAP_AGENTS", 20)
        return ui.render_heatmap(mock.activity, controls, links, limit)
    if panel == "trends":
        return ui.render_trends(mock.trends(controls.granularity), links.suffix)
    rows = rotations.sort_rows(mock.rotations, controls.sort, controls.direction)
    return ui.render_rotations(rows, controls, links, stale_days=30)
