"""The plugin's one blueprint: JSON API, HTMX tab and assets under ``/analytics``.

Routes are attached by ``api.py`` and ``ui.py``; templates and static files are
package data located with ``importlib.resources`` so an installed wheel works.
"""

from __future__ import annotations

from importlib.resources import files

from flask import Blueprint

BLUEPRINT_NAME = "agentidp_analytics"

bp = Blueprint(
    BLUEPRINT_NAME,
    __name__,
    url_prefix="/analytics",
    template_folder=str(files("agentidp_analytics_plugin.templates")),
    static_folder=str(files("agentidp_analytics_plugin.static")),
    static_url_path="/static",
)
