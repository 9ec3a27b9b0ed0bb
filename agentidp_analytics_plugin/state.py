"""The one way to reach the plugin's per-app state: :func:`get_state`.

``init_app`` keeps an :class:`~.extension.AnalyticsState` (cache, service,
rate limits, metrics, resolvers) in ``app.extensions["agentidp_analytics"]``;
every module that needs it calls :func:`get_state`, so a missing
registration says what to do instead of failing with a bare ``KeyError``.
A module of its own so the CLI, the scheduler and the views can import it
without importing the extension that imports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, current_app

from .config import EXTENSION_KEY

if TYPE_CHECKING:
    from .extension import AnalyticsState

__all__ = ["EXTENSION_KEY", "get_state"]


def get_state(app: Flask | None = None) -> AnalyticsState:
    """The plugin's state of ``app`` (default: the current app); RuntimeError when ``init_app`` never ran."""
    app = app if app is not None else current_app
    state = app.extensions.get(EXTENSION_KEY)
    if state is None:
        raise RuntimeError(
            "The analytics plugin is not registered on this app. Did you forget to call "
            "'analytics.init_app(app)' (or to load the host's 'agentidp.plugins' entry points)?"
        )
    return state
