"""Plugin discovery: entry points in the ``agentidp.plugins`` group, filtered by ``IDP_PLUGINS``.

The host imports no plugin by name. ``IDP_PLUGINS`` unset loads every
installed plugin; a comma list loads only those names; an empty value loads
none (the host alone, as its own tests run it).
"""

from __future__ import annotations

import os
from importlib.metadata import EntryPoint, entry_points

from flask import Flask

GROUP = "agentidp.plugins"


def selected_names(raw: str | None) -> set[str] | None:
    """Parse an ``IDP_PLUGINS`` value: None means all plugins, a set means only those."""
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def discover(raw: str | None) -> list[EntryPoint]:
    """The entry points to load, in name order; unknown requested names are an error."""
    available = {ep.name: ep for ep in entry_points(group=GROUP)}
    wanted = selected_names(raw)
    if wanted is None:
        return [available[name] for name in sorted(available)]
    missing = wanted - available.keys()
    if missing:
        raise RuntimeError(
            f"IDP_PLUGINS names {sorted(missing)}, which no installed distribution provides in "
            f"the {GROUP!r} entry-point group (installed: {sorted(available) or 'none'}). "
            "Install the plugin or remove it from IDP_PLUGINS."
        )
    return [available[name] for name in sorted(wanted)]


def load_plugins(app: Flask) -> list[str]:
    """Call ``init_app(app)`` on every selected plugin; returns the names loaded.

    Must run after the database and migration extensions are initialised and
    the plugin configuration keys are set, which plugins read in ``init_app``.
    """
    raw = app.config.get("IDP_PLUGINS", os.environ.get("IDP_PLUGINS"))
    loaded = []
    for ep in discover(raw):
        plugin = ep.load()
        plugin.init_app(app)
        loaded.append(ep.name)
    app.config["IDP_LOADED_PLUGINS"] = loaded
    return loaded
