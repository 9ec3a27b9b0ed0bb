"""Keeping the plugin's request hooks off the host's requests: hooks confined to a blueprint, one-shot hooks.

Every app-wide ``before_request`` / ``after_request`` / ``teardown_request``
function runs on every request of the host, the plugin's or not. A hook that
only matters for the plugin's routes belongs to its blueprint, and a check
that only matters until the app is set up runs once: Flask refuses new setup
(a hook, a ``Limiter``) after the app's first request, so nothing it checks
for can appear later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask


def confine_to_blueprint(app: Flask, blueprint_name: str, install: Callable[[], Any]) -> None:
    """Run ``install()`` and move the app-wide request hooks it registered to ``blueprint_name``.

    For extensions that register app-wide hooks with no option to do
    otherwise (Flask-Limiter's ``init_app``): the hooks then run for the
    blueprint's requests, in their order, and for no other request.
    """
    registries = (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs)
    earlier = [list(registry.get(None, ())) for registry in registries]
    install()
    for registry, old in zip(registries, earlier, strict=True):
        current = registry.get(None, [])
        added = [hook for hook in current if not any(hook is known for known in old)]
        if added:
            registry[None] = [hook for hook in current if not any(hook is new for new in added)]
            registry.setdefault(blueprint_name, []).extend(added)


def before_first_request(app: Flask, check: Callable[[], None]) -> None:
    """Run ``check`` before the app's first request, then take it off the app's hooks.

    Two first requests at once may both run it: ``check`` must be idempotent.
    """

    def once() -> None:
        check()
        hooks = app.before_request_funcs.get(None, [])
        if any(hook is once for hook in hooks):
            # A new list: a request in another thread may be iterating the old one.
            app.before_request_funcs[None] = [hook for hook in hooks if hook is not once]

    app.before_request(once)
