"""CSRF protection for the host's session-authenticated forms.

A per-session random token (synchronizer token pattern) is enough here: every
state-changing dashboard action is a POST form rendered by the host. Token
endpoints and Bearer-authenticated APIs are not cookie-authenticated and are
not checked.
"""

from __future__ import annotations

import hmac
import secrets

from flask import abort, request, session

SESSION_KEY = "csrf_token"
FORM_FIELD = "csrf_token"
PROTECTED_BLUEPRINTS = frozenset({"auth", "dashboard"})


def csrf_token() -> str:
    """The session's CSRF token, created on first use (exposed to templates)."""
    token = session.get(SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


def rotate_csrf_token() -> None:
    """Forget the token, e.g. at login, so a pre-login token cannot be reused."""
    session.pop(SESSION_KEY, None)


def check_csrf() -> None:
    """``before_request`` hook: reject unsafe requests to host forms without a valid token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.blueprint not in PROTECTED_BLUEPRINTS:
        return
    expected = session.get(SESSION_KEY)
    presented = request.form.get(FORM_FIELD, "")
    if not expected or not hmac.compare_digest(expected, presented):
        abort(400, description="The form has expired or is invalid. Go back, reload and retry.")
