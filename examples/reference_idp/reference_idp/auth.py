"""Dashboard sign-in: session login/logout and the ``login_required`` guard.

Only the session's user id is stored client-side (in Flask's signed cookie);
the user, and through it the tenant, is loaded per request.
"""

from __future__ import annotations

import functools
import secrets
import uuid
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, g, redirect, render_template, request, session, url_for
from werkzeug.security import check_password_hash, generate_password_hash

from .csrf import rotate_csrf_token
from .extensions import db
from .models import User

bp = Blueprint("auth", __name__)

SESSION_USER_KEY = "user_id"
F = TypeVar("F", bound=Callable[..., Any])


@functools.cache
def _dummy_hash() -> str:
    """Checked when the email is unknown, so a miss costs as much as a wrong password."""
    return generate_password_hash(secrets.token_urlsafe(16))


def current_user() -> User | None:
    """The signed-in user of this request, loaded once and kept on ``g``.

    The cache is keyed on the session's value, not just present-or-not: an
    app context (and so ``g``) can outlive one request, as when tests push
    one around several client requests, and a login in between must count.
    """
    raw = session.get(SESSION_USER_KEY)
    if "current_user" not in g or g.get("current_user_key") != raw:
        g.current_user_key = raw
        g.current_user = None
        if raw:
            try:
                g.current_user = db.session.get(User, uuid.UUID(raw))
            except ValueError:
                g.current_user = None
    return g.current_user


def login_required(view: F) -> F:
    """Redirect anonymous visitors to the login page, remembering where they were going."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after login (no open redirect)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and "\\" not in target:
            return target
    return url_for("dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    if request.method == "POST":
        email = request.form.get("email", "").strip().lower()
        password = request.form.get("password", "")
        user = db.session.scalar(sa.select(User).where(User.email == email))
        if user is None:
            check_password_hash(_dummy_hash(), password)
        elif check_password_hash(user.password_hash, password):
            session.clear()
            rotate_csrf_token()
            session[SESSION_USER_KEY] = str(user.id)
            return redirect(_safe_next(request.args.get("next")))
        error = "Unknown email or wrong password."
    status = 401 if error else 200
    return render_template("reference_idp/login.html", error=error), status


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    session.clear()
    return redirect(url_for("auth.login"))
