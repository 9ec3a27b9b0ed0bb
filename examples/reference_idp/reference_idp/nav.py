"""The dashboard navigation, shared with plugins through app config.

The list lives under the config key named by ``ANALYTICS_NAV_CONFIG_KEY``
(default ``DASHBOARD_NAV``); plugins append entries in ``init_app`` and the
base template renders the visible ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request, url_for

DEFAULT_NAV_KEY = "DASHBOARD_NAV"


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str
    active: bool


def host_nav_entries() -> list[dict]:
    """The host's own entries, first in the bar."""
    return [{"label": "Agents", "endpoint": "dashboard.index", "visible": None}]


def nav_links() -> list[NavLink]:
    """Visible entries as links; one is active when the request is in its blueprint."""
    key = current_app.config.get("ANALYTICS_NAV_CONFIG_KEY", DEFAULT_NAV_KEY)
    current = request.endpoint or ""
    links = []
    for entry in current_app.config.get(key, []):
        visible = entry.get("visible")
        if visible is not None and not visible():
            continue
        endpoint = entry["endpoint"]
        blueprint = endpoint.partition(".")[0]
        links.append(
            NavLink(
                label=entry["label"],
                url=url_for(endpoint),
                active=current.partition(".")[0] == blueprint,
            )
        )
    return links
