"""Join the plugin's Alembic branch to the host's Flask-Migrate history.

Flask-Migrate's documented ``@migrate.configure`` hook lets the plugin add its
versions folder to ``version_locations`` without touching the host's
alembic.ini, so ``flask db upgrade heads`` applies host and plugin revisions
together. The plugin's tables are also kept out of the host's autogenerate:
they are not in the host's metadata, and without a filter every
``flask db migrate`` would propose dropping them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from .resources import data_dir
from .schema import AGGREGATES_TABLE, LEDGER_TABLE

EXTENSION_KEY = "agentidp_analytics"
PLUGIN_TABLES = frozenset({AGGREGATES_TABLE, LEDGER_TABLE})


def versions_dir() -> str:
    return str(Path(data_dir("migrations")) / "versions")


def add_version_location(config: Any) -> Any:
    """Configure callback: append the plugin's versions folder (apps with the plugin only)."""
    if EXTENSION_KEY not in current_app.extensions:
        return config
    ours = versions_dir()
    current = config.get_version_locations_list() or [
        os.path.join(config.get_main_option("script_location"), "versions")
    ]
    if ours not in current:
        config.set_main_option("path_separator", "os")
        config.set_main_option("version_locations", os.pathsep.join([*current, ours]))
    return config


def register(app: Flask) -> bool:
    """Hook into the host's Flask-Migrate; False when the host does not use it."""
    state = app.extensions.get("migrate")
    if state is None:
        return False
    migrate = state.migrate
    if add_version_location not in migrate.configure_callbacks:
        migrate.configure(add_version_location)
    host_filter = state.configure_args.get("include_object")
    if getattr(host_filter, "_agentidp_analytics", False):
        return True

    def include_object(obj: Any, name: str, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table" and name in PLUGIN_TABLES:
            return False
        if host_filter is not None:
            return host_filter(obj, name, type_, reflected, compare_to)
        return True

    include_object._agentidp_analytics = True  # type: ignore[attr-defined]
    state.configure_args["include_object"] = include_object
    return True
