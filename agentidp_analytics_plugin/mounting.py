"""Where the plugin sits in the host: its URL prefix, its nav entry, and routes in its way.

* The blueprint is mounted at ``ANALYTICS_URL_PREFIX`` (default ``/analytics``).
* A host route under that prefix would be shadowed by the plugin's, or shadow
  it, depending on registration order: it is reported with a warning naming
  both, at start-up and, for routes the host adds after loading plugins, before
  the first request (then the check leaves the app's hooks).
* With ``ANALYTICS_ENABLED`` off, the prefix without its trailing slash is a
  404 like every other plugin URL: it is a route of the blueprint
  (:func:`.ui.views.prefix_root`), behind its flag gate, so no app-wide hook
  looks at the host's requests for it.
* The nav entry goes into a new list in the host's config key; the host's own
  list is never changed in place, so a module-level default shared by every
  ``create_app()`` keeps its entries.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask

from .config import runtime_flag
from .request_hooks import before_first_request

log = logging.getLogger(__name__)


class Visible:
    """The nav entry's ``visible``: ``ANALYTICS_ENABLED`` right now, as ``bool(item.visible)`` or ``item.visible()``."""

    def __bool__(self) -> bool:
        return runtime_flag("ANALYTICS_ENABLED")

    def __call__(self) -> bool:
        return bool(self)

    def __repr__(self) -> str:
        return "<visible while ANALYTICS_ENABLED>"


def nav_entry(bp: Blueprint) -> dict[str, Any]:
    """``{"label", "endpoint", "visible"}``: a dict, so ``item["label"]`` and Jinja's ``item.label`` both work."""
    return {"label": "Analytics", "endpoint": f"{bp.name}.tab", "visible": Visible()}


def add_nav_entry(app: Flask, bp: Blueprint) -> None:
    key = app.config["ANALYTICS_NAV_CONFIG_KEY"]
    app.config[key] = [*(app.config.get(key) or ()), nav_entry(bp)]


def colliding_routes(app: Flask, bp: Blueprint, prefix: str) -> list[tuple[str, str]]:
    """Host rules (path, endpoint) at or under the plugin's prefix."""
    return [
        (rule.rule, rule.endpoint)
        for rule in app.url_map.iter_rules()
        if not rule.endpoint.startswith(f"{bp.name}.") and (rule.rule == prefix or rule.rule.startswith(prefix + "/"))
    ]


def mount(app: Flask, bp: Blueprint) -> None:
    """Register the blueprint at the configured prefix, with the guards described above."""
    prefix = app.config["ANALYTICS_URL_PREFIX"]
    app.register_blueprint(bp, url_prefix=prefix)
    reported: set[tuple[str, str]] = set()

    def report_collisions() -> None:
        for path, endpoint in colliding_routes(app, bp, prefix):
            if (path, endpoint) not in reported:
                reported.add((path, endpoint))
                log.warning(
                    "The host route %s (endpoint %r) is under %s, where the analytics plugin serves its API and "
                    "tab (ANALYTICS_URL_PREFIX): one of them will never answer. Move the host route, or set "
                    "ANALYTICS_URL_PREFIX to a free path.",
                    path,
                    endpoint,
                    prefix,
                )

    report_collisions()
    before_first_request(app, report_collisions)  # routes the host added after loading plugins
    add_nav_entry(app, bp)
