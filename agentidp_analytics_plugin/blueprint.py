"""The plugin's one blueprint: JSON API, HTMX tab and assets under ``/analytics``.

Routes are attached by the view modules (:mod:`.api`, :mod:`.ui.views`,
:mod:`.gallery`) and the access gate by :mod:`.access`; register the
blueprint through :func:`analytics_blueprint`, which imports them all first
(Flask refuses routes added to a blueprint after its first registration).
Templates and static files are package data (see :mod:`.resources`).
"""

from __future__ import annotations

from flask import Blueprint

from .resources import data_dir

BLUEPRINT_NAME = "agentidp_analytics"

bp = Blueprint(
    BLUEPRINT_NAME,
    __name__,
    url_prefix="/analytics",
    template_folder=data_dir("templates"),
    static_folder=data_dir("static"),
    static_url_path="/static",
)


def analytics_blueprint() -> Blueprint:
    """The blueprint with every route and hook attached."""
    from . import access, api, boundary, gallery  # noqa: F401  (importing them attaches their routes)
    from .ui import views  # noqa: F401

    return bp
