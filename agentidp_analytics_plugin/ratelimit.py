"""Rate limits with Flask-Limiter: per tenant (API and tab apart), per address before authentication.

The design fixes where the limit applies: after the tenant (401) and tier
(403) checks and before the parameters are read, so a limit is keyed by the
tenant, not by whatever proxy address a client hides behind. Flask-Limiter's
own middleware runs before any blueprint hook, so the plugin does not use it
for its limits: each limit is a Flask-Limiter ``shared_limit`` on a small
marker function that the API pipeline calls at the right step. The limits
still go through Flask-Limiter's machinery (storage URI, strategy, in-memory
fallback when Redis is down, error swallowing, ``RateLimitExceeded``).

The plugin's limiter stays off the host's routes: Flask-Limiter's ``init_app``
registers app-wide request hooks (with no option not to in 4.x), which the
plugin moves to its own blueprint (:func:`.request_hooks.confine_to_blueprint`),
so a host request runs none of its code.

The host's own Flask-Limiter stays off the plugin's routes: its default and
application limits would count every panel of the tab and answer the host's
HTML 429 under the plugin's prefix. :func:`exempt_from_host_limiters` exempts
the blueprint from those limits of every other ``Limiter`` on the app, the
documented way (``limiter.exempt(blueprint, flags=...)``), whether the host
creates its ``Limiter`` before or after loading plugins (up to its first
request, after which Flask accepts no new ``Limiter``). Limits a host puts
on the plugin's blueprint on purpose (``limiter.limit(...)(blueprint)``)
still apply, and their 429 is answered in the plugin's shape (:mod:`.boundary`).

The plugin's ``Limiter`` is its own (one per app, ``key_prefix``
"agentidp_analytics") with every setting passed explicitly, so the host's
``RATELIMIT_*`` defaults and application limits never apply twice; its
request filter leaves every host route alone. A host that sets
``RATELIMIT_ENABLED = False`` turns these limits off too.

The tab's page and fragments have a limit of their own (``ANALYTICS_RATELIMIT_UI``,
generous: one screen is five requests) on the same storage, so a dashboard
left open never eats the tenant's API budget, and a script hammering the
fragments is still stopped.
"""

from __future__ import annotations

import inspect
import math
import time
import weakref
from collections.abc import Callable

from flask import Blueprint, Flask, g
from flask_limiter import ExemptionScope, Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from . import errors
from .blueprint import BLUEPRINT_NAME
from .errors import AnalyticsError
from .request_hooks import before_first_request, confine_to_blueprint

KEY_PREFIX = "agentidp_analytics"


def _tenant_key() -> str:
    tenant = g.get("agentidp_analytics_tenant")
    return f"tenant:{tenant.id}" if tenant is not None else f"address:{get_remote_address()}"


def _address_key() -> str:
    return f"address:{get_remote_address()}"


def _always() -> bool:
    return True


def _switch_off_host_wide_limits() -> dict[str, object]:
    """Keep the host's application and meta limits (``RATELIMIT_APPLICATION``, ``RATELIMIT_META``) off.

    Flask-Limiter 3.4 added ``application_limits_exempt_when`` and 3.5 meta
    limits. Before 3.4 application limits are only checked in the middleware,
    which the request filter below already turns away, so there is nothing to
    switch off in older versions.
    """
    accepted = inspect.signature(Limiter.__init__).parameters
    wanted = {"application_limits_exempt_when": _always, "meta_limits": []}
    return {name: value for name, value in wanted.items() if name in accepted}


class RateLimits:
    """The per-tenant limits (API, tab) and the unauthenticated limit of one app."""

    def __init__(
        self,
        app: Flask,
        *,
        enabled: bool,
        per_tenant: str,
        unauthenticated: str,
        storage_uri: str,
        tab: str = "600 per minute",
    ) -> None:
        self.enabled = enabled
        self.limiter = Limiter(
            key_func=_tenant_key,
            storage_uri=storage_uri,
            storage_options={"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
            if storage_uri.startswith(("redis://", "rediss://", "redis+cluster://", "redis+sentinel://"))
            else {},
            strategy="fixed-window",
            key_prefix=KEY_PREFIX,
            headers_enabled=False,
            swallow_errors=True,
            in_memory_fallback_enabled=True,
            default_limits_exempt_when=_always,
            **_switch_off_host_wide_limits(),
        )
        # Flask-Limiter's middleware never limits a request by itself here:
        # only the markers below, called by the API pipeline, count.
        self.limiter.request_filter(lambda: not g.get("agentidp_analytics_limiting", False))
        confine_to_blueprint(app, BLUEPRINT_NAME, lambda: self.limiter.init_app(app))
        self._tenant = self.limiter.shared_limit(per_tenant, scope="analytics-tenant", key_func=_tenant_key)(
            _marker("tenant")
        )
        self._anonymous = self.limiter.shared_limit(
            unauthenticated, scope="analytics-unauthenticated", key_func=_address_key
        )(_marker("unauthenticated"))
        self._tab = self.limiter.shared_limit(tab, scope="analytics-tab", key_func=_tenant_key)(_marker("tab"))

    def check_tenant(self) -> None:
        """Count one API request of the tenant in ``g``; raise RATE_LIMITED when over the limit."""
        self._check(self._tenant)

    def check_tab(self) -> None:
        """Count one tab request (page or fragment) of the tenant in ``g``."""
        self._check(self._tab)

    def check_unauthenticated(self) -> None:
        """Count one unauthenticated request of this client address."""
        self._check(self._anonymous)

    def _check(self, marker: Callable[[], None]) -> None:
        if not self.enabled:
            return
        g.agentidp_analytics_limiting = True
        try:
            marker()
        except RateLimitExceeded:
            raise AnalyticsError(
                429,
                errors.RATE_LIMITED,
                "Too many analytics requests; retry after the number of seconds in Retry-After.",
                headers={"Retry-After": str(self._retry_after())},
            ) from None
        finally:
            g.agentidp_analytics_limiting = False

    def _retry_after(self) -> int:
        current = self.limiter.current_limit
        if current is None:
            return 1
        try:
            return max(1, math.ceil(current.window[0] - time.time()))
        except Exception:  # noqa: BLE001 - storage gone between hit and stats: a safe hint
            return 1

    def reset(self) -> None:
        """Clear every counter (tests, and operators after changing limits)."""
        self.limiter.reset()


def exempt_from_host_limiters(app: Flask, blueprint: Blueprint, own: Limiter) -> None:
    """Exempt ``blueprint`` from the default and application limits of every host ``Limiter``.

    Flask-Limiter keeps the instances of an app in ``app.extensions["limiter"]``
    (3.2 and later). Those created before the plugin are exempted now; one the
    host creates after loading plugins registers its check after the one-shot
    hook below, which exempts it before that check first runs. After the first
    request the hook is gone: Flask accepts no new ``Limiter`` from then on.
    """
    exempted: weakref.WeakSet[Limiter] = weakref.WeakSet([own])

    def exempt_new_limiters() -> None:
        for limiter in list(app.extensions.get("limiter", ())):
            if limiter not in exempted:
                # Not the 4.x default flags: META would also drop limits set on the blueprint on purpose.
                limiter.exempt(blueprint, flags=ExemptionScope.DEFAULT | ExemptionScope.APPLICATION)
                exempted.add(limiter)

    exempt_new_limiters()
    before_first_request(app, exempt_new_limiters)


def _marker(name: str) -> Callable[[], None]:
    def limited() -> None:
        """Does nothing: Flask-Limiter's wrapper around it is the check."""

    limited.__name__ = limited.__qualname__ = f"agentidp_analytics_{name}_limit"
    return limited
