"""Orbit's own console pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, render_template

from .auth import login_required
from .extensions import cache, db
from .models import Bot, Org

bp = Blueprint("console", __name__)


@bp.get("/")
@login_required
def overview() -> Any:
    org = db.session.get(Org, g.member.org_id)
    return render_template("orbit/overview.html", org=org)


@bp.get("/bots")
@login_required
def bots() -> Any:
    return render_template("orbit/bots.html", bots=_bot_names(g.member.org_id))


@cache.memoize()
def _bot_names(org_id: Any) -> list[str]:
    return list(db.session.scalars(db.select(Bot.name).filter_by(tenant_id=org_id).order_by(Bot.name)))
