"""The component gallery: every Analytics panel in several states, from mock data.

The spec asks for the dashboard components "with mock data in Storybook"; this
is the same idea without a second toolchain. ``/analytics/_gallery`` renders
the real templates through the tab's own fragment path (parameters, service,
presenters, rendering), fed by the mock tenants of :mod:`.gallery_data`, whose
usage the real aggregation rolled up. It needs no host database and no
tenant, so it is off unless ``ANALYTICS_GALLERY_ENABLED`` is set.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, render_template, request, url_for

from .blueprint import bp
from .errors import AnalyticsError
from .gallery_data import MOCK_TODAY, SCENARIOS, mock_tenant
from .tiers import upgrade_context
from .ui.controls import PANEL_BY_NAME, PANELS, PRESETS, Links, read_controls
from .ui.rendering import ErrorState, render_error
from .ui.views import panel_fragment

#: The example error state shown on the gallery page.
EXAMPLE_ERROR = ErrorState(
    "INVALID_DATE_RANGE", "Date range exceeds 90 days for agent activity: choose 90 days or fewer."
)


def _require_enabled() -> None:
    if not current_app.config.get("ANALYTICS_GALLERY_ENABLED", False):
        abort(404)


def _links(state: str, suffix: str | None = None) -> Links:
    def fragment_url(name: str, **params: Any) -> str:
        return url_for(f"{bp.name}.gallery_fragment", state=state, panel=name, **params)

    return Links(fragment_url=fragment_url, push_url=None, suffix=suffix or f"-{state}")


@bp.get("/_gallery")
def gallery() -> str:
    """Every component, every state, each panel loaded through its own fragment URL.

    Only the typical state is built here (its agents fill the filter bar);
    every other state is built by its first fragment request, so the page
    answers at once and the 500-agent state costs nothing until it is shown.
    """
    _require_enabled()
    typical = mock_tenant("typical")
    return render_template(
        "agentidp_analytics/gallery.html",
        states=[(scenario, _links(scenario.name)) for scenario in SCENARIOS.values()],
        panels=PANELS,
        week_panels=[p for p in PANELS if p.name == "trends"],
        week_links=_links(typical.name, "-typical-week"),
        controls=read_controls(typical.query, MOCK_TODAY),
        agents=typical.service.list_agents(typical.tenant_id),
        today=MOCK_TODAY.isoformat(),
        presets=PRESETS,
        tab_url="#",
        error=EXAMPLE_ERROR,
        # The upgrade panel as a tenant on the first plan without analytics would see it.
        **upgrade_context("free"),
    )


@bp.get("/_gallery/<state>/<panel>")
def gallery_fragment(state: str, panel: str) -> str:
    """One panel of one mock tenant, through the tab's own fragment path."""
    _require_enabled()
    if state not in SCENARIOS or panel not in PANEL_BY_NAME:
        abort(404)
    mock = mock_tenant(state)
    # The state's own period unless the request chose another.
    args = request.args if "range" in request.args else {**mock.query, **request.args.to_dict()}
    controls = read_controls(args, MOCK_TODAY)
    links = _links(state, f"-{state}-week" if controls.granularity == "week" else None)
    try:
        with mock.lock:
            return panel_fragment(mock.service, panel, mock.tenant_id, controls, MOCK_TODAY, links)
    except AnalyticsError as exc:
        return render_error(panel, ErrorState(exc.code, exc.message), links.suffix)
