"""Rendering: presenter contexts into the panel templates, one function per panel state.

Every fragment of the tab and of the gallery is made here, from the
service's plain data, so both render through one code path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import render_template

from .. import errors
from ..blueprint import bp
from .controls import Controls, Links, canonical_query
from .presenters import (
    call_patterns_context,
    heatmap_context,
    insights_context,
    rotations_context,
    summary_context,
    trends_context,
)

#: What an error panel says first, by code (the message below it says why).
_ERROR_TITLES = {
    errors.SERVICE_UNAVAILABLE: "Analytics are unavailable right now.",
    errors.RATE_LIMITED: "Too many updates in a short time.",
    errors.AGENT_NOT_FOUND: "This panel can't show that agent.",
    errors.INVALID_AGENT_ID: "This panel can't show that agent.",
}


@dataclass(frozen=True)
class ErrorState:
    """A refusal shown inside a panel (or in place of the panels): its code and message."""

    code: str
    message: str
    #: Overrides the code's title (an error shown once for the whole tab, not in one panel).
    heading: str | None = None
    #: Ids of the controls the error is about, marked aria-invalid (an error about the filters).
    inputs: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return self.heading or _ERROR_TITLES.get(self.code, "This panel can't show that period.")


def _fmt_number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


bp.add_app_template_filter(_fmt_number, "agentidp_analytics_number")


def partial(name: str, **context: Any) -> str:
    return render_template(f"agentidp_analytics/partials/{name}.html", **context)


def render_summary(payload: Mapping[str, Any], suffix: str = "") -> str:
    return partial("summary", **summary_context(payload), suffix=suffix)


def render_heatmap(activity: Mapping[str, Any], controls: Controls, links: Links, limit: int) -> str:
    ctx = heatmap_context(activity, controls, limit)
    toggle = canonical_query(controls, show_all=not controls.show_all)
    return partial("heatmap", **ctx, toggle_url=links.fragment_url("heatmap", **toggle), suffix=links.suffix)


def render_trends(
    trends: Mapping[str, Any], suffix: str = "", controls: Controls | None = None, links: Links | None = None
) -> str:
    """The trends panel; with the tab's controls and links, its "compare with the previous period" switch.

    The switch reloads this panel only and pushes the tab's URL with the new
    state; it belongs to the filter form too (``form="aa-controls"``), so a
    later change of the filters keeps it, and without JavaScript "Apply" sends it.
    """
    compare = None
    if controls is not None and links is not None and links.push_url is not None:
        compare = {
            "checked": controls.compare,
            "url": links.fragment_url("trends", **canonical_query(controls, compare=False)),
            "push": links.push_url(**canonical_query(controls, compare=not controls.compare)),
        }
    return partial("trends", **trends_context(trends), suffix=suffix, compare=compare)


def render_rotations(table: Mapping[str, Any], controls: Controls, links: Links) -> str:
    return partial("rotations", **rotations_context(table, controls, links), suffix=links.suffix)


def render_call_patterns(patterns: Mapping[str, Any], suffix: str = "") -> str:
    return partial("calls", **call_patterns_context(patterns), suffix=suffix)


def render_insights(found: Mapping[str, Any], suffix: str = "") -> str:
    return partial("insights", **insights_context(found), suffix=suffix)


def render_error(panel: str, error: ErrorState, suffix: str = "") -> str:
    return partial("error", panel=panel, error=error, suffix=suffix)


def render_panel(panel: str, data: Mapping[str, Any], controls: Controls, links: Links, heatmap_limit: int) -> str:
    """One panel's body from its service answer."""
    if panel == "summary":
        return render_summary(data, links.suffix)
    if panel == "heatmap":
        return render_heatmap(data, controls, links, heatmap_limit)
    if panel == "trends":
        return render_trends(data, links.suffix, controls, links)
    if panel == "calls":
        return render_call_patterns(data, links.suffix)
    if panel == "insights":
        return render_insights(data, links.suffix)
    return render_rotations(data, controls, links)
