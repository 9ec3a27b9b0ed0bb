"""Sign-in for the Orbit console, API keys, and the two tenant resolvers the analytics plugin asks for."""

from __future__ import annotations

import functools
import hashlib
import secrets
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Request, g, redirect, render_template, request, session, url_for
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db
from .models import ApiKey, Member, Org

bp = Blueprint("auth", __name__)


@bp.before_app_request
def load_member() -> None:
    member_id = session.get("member_id")
    g.member = db.session.get(Member, member_id) if member_id is not None else None


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.member is None:
            return redirect(url_for("auth.signin", next=request.full_path))
        return view(*args, **kwargs)

    return wrapped


def _safe_next(target: str | None) -> str:
    parts = urlsplit(target or "")
    if target and not parts.scheme and not parts.netloc and target.startswith("/"):
        return target
    return url_for("console.overview")


@bp.route("/signin", methods=["GET", "POST"])
def signin() -> Any:
    error = None
    if request.method == "POST":
        member = db.session.scalar(db.select(Member).filter_by(email=request.form.get("email", "")))
        if member is not None and check_password_hash(member.password_hash, request.form.get("password", "")):
            session.clear()
            session["member_id"] = member.id
            return redirect(_safe_next(request.args.get("next")))
        error = "Unknown email or wrong password."
    return render_template("orbit/signin.html", error=error), 401 if error else 200


@bp.post("/signout")
def signout() -> Any:
    session.clear()
    return redirect(url_for("auth.signin"))


def add_member(org: Org, email: str, password: str) -> Member:
    member = Member(org_id=org.id, email=email, password_hash=generate_password_hash(password, "pbkdf2:sha256:1000"))
    db.session.add(member)
    db.session.commit()
    return member


def issue_api_key(org: Org) -> str:
    """A new API key for ``org``; the plain key is shown once and never stored."""
    key = "orb_" + secrets.token_urlsafe(24)
    db.session.add(ApiKey(org_id=org.id, key_sha256=hashlib.sha256(key.encode()).hexdigest()))
    db.session.commit()
    return key


def org_from_api_key(req: Request) -> tuple[uuid.UUID, str] | None:
    """Analytics API resolver: ``Authorization: Bearer <Orbit API key>`` -> (org id, tier)."""
    scheme, _, key = req.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key:
        return None
    row = db.session.execute(
        db.select(Org.id, Org.tier)
        .join(ApiKey, ApiKey.org_id == Org.id)
        .where(ApiKey.key_sha256 == hashlib.sha256(key.strip().encode()).hexdigest())
    ).first()
    return (row.id, row.tier) if row is not None else None


def org_from_session(req: Request) -> tuple[uuid.UUID, str] | None:
    """Analytics tab resolver: the signed-in member's org."""
    member = g.get("member")
    if member is None:
        return None
    org = db.session.get(Org, member.org_id)
    return (org.id, org.tier) if org is not None else None
