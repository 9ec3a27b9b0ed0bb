"""Signed-out visitors of the tab: to the host's sign-in page, and back.

A shared link opened without a session, or a preset clicked after the
session expired, meets the tab without a tenant. With
``ANALYTICS_LOGIN_ENDPOINT`` (the host's sign-in view, e.g. ``"auth.login"``)
the visitor is sent there with the page to come back to in
``ANALYTICS_LOGIN_NEXT_PARAM`` (``next``, as Flask-Login and most hosts read
it): a page load gets a 302, an htmx request (a panel, a control) gets
``HX-Redirect``, which htmx 1.x and 2.x both follow whatever the status, so the
answer stays a 401. The link back is always the tab's page, never a fragment
URL: for a panel it is the page the browser shows (``HX-Current-URL``).

Without the key there is nowhere to send anyone: a page load gets a 401 page
in the host's layout (``agentidp_analytics/signed_out.html``, overridable), an
htmx request ``HX-Refresh`` so the browser loads that page. The JSON API
never redirects (:mod:`.access` answers its 401 in JSON).

The endpoint can only be looked up once the host has registered its views,
which may be after the plugins: it is checked on the first request, and a
name that is not an endpoint is logged as an error naming the key, with the
closest endpoint names, and the 401 page is served meanwhile.
"""

from __future__ import annotations

import difflib
import logging
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, make_response, redirect, render_template, request, url_for
from werkzeug.routing import BuildError

from .blueprint import bp

log = logging.getLogger(__name__)

KEY = "ANALYTICS_LOGIN_ENDPOINT"
#: Endpoint names already reported as unknown: one log line each, not one per signed-out visit.
_reported: set[str] = set()


def signed_out_response() -> Response:
    """The tab's answer to a visitor without a session (see the module's docstring)."""
    login = login_url(come_back_to())
    htmx = bool(request.headers.get("HX-Request"))
    if login is None:
        if htmx:
            response = make_response("", 401)
            response.headers["HX-Refresh"] = "true"
            return response
        return make_response(render_template("agentidp_analytics/signed_out.html"), 401)
    if htmx:
        response = make_response("", 401)
        response.headers["HX-Redirect"] = login
        return response
    return redirect(login)


def come_back_to() -> str:
    """The tab page to return to after signing in: this page, or for a panel the page showing it."""
    tab = url_for(f"{bp.name}.tab")
    if request.endpoint == f"{bp.name}.tab":
        return request.script_root + request.full_path.rstrip("?")
    current = urlsplit(request.headers.get("HX-Current-URL", ""))
    if current.path == tab and current.netloc in ("", request.host):
        return f"{current.path}?{current.query}" if current.query else current.path
    return tab


def login_url(next_url: str) -> str | None:
    """The host's sign-in URL with ``next_url``, or None without a usable ``ANALYTICS_LOGIN_ENDPOINT``."""
    endpoint = current_app.config[KEY]
    if endpoint is None:
        return None
    try:
        return url_for(endpoint, **{current_app.config["ANALYTICS_LOGIN_NEXT_PARAM"]: next_url})
    except BuildError:
        if endpoint not in _reported:
            _reported.add(endpoint)
            log.error("%s", unknown_endpoint_message(current_app, endpoint))
        return None


def unknown_endpoint_message(app: Flask, endpoint: str) -> str:
    close = difflib.get_close_matches(endpoint, list(app.view_functions), n=3)
    hint = f" Did you mean {', '.join(repr(name) for name in close)}?" if close else ""
    return (
        f"{KEY} = {endpoint!r} is not an endpoint of this app (or needs URL arguments), so signed-out "
        f"visitors of the Analytics tab get a 401 page instead of the host's sign-in.{hint} Set it to the "
        "endpoint name of the sign-in view, as url_for() takes it (e.g. 'auth.login'), or None."
    )


def check_login_endpoint(app: Flask) -> None:
    """Report a login endpoint the app does not have: now if its views are all there, else on the first request."""
    endpoint = app.config[KEY]
    if endpoint is None or endpoint in app.view_functions:
        return
    checked = False

    def check_once() -> None:
        nonlocal checked
        if not checked:
            checked = True
            if endpoint not in app.view_functions:
                _reported.add(endpoint)
                log.error("%s", unknown_endpoint_message(app, endpoint))

    app.before_request(check_once)
