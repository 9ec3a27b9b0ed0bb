"""The plugin's one blueprint: JSON API, HTMX tab and assets under ``/analytics``.

Routes are attached by ``api.py`` and ``ui.py``; templates and static files are
package data (see :mod:`.resources`).
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
