"""The dashboard shell: the tenant's agents, with create, rotate and delete actions.

Every action is scoped to the signed-in user's tenant; an agent id from
another tenant answers 404, as if it did not exist.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from .auth import current_user, login_required
from .credentials import IssuedSecret, create_agent, delete_agent, rotate_credential
from .extensions import db
from .models import Agent, AgentCredential

bp = Blueprint("dashboard", __name__)

MAX_AGENT_NAME = 255


def _tenant_agent(agent_id: uuid.UUID) -> Agent:
    user = current_user()
    assert user is not None  # guarded by login_required
    agent = db.session.scalar(
        sa.select(Agent).where(Agent.id == agent_id, Agent.tenant_id == user.tenant_id)
    )
    if agent is None:
        abort(404)
    return agent


def _show_secret(issued: IssuedSecret, *, rotated: bool) -> Any:
    """Render the one page that ever shows a client secret, and keep it out of caches."""
    response = make_response(
        render_template("reference_idp/secret.html", issued=issued, rotated=rotated)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/")
@login_required
def index() -> Any:
    user = current_user()
    assert user is not None
    last_rotation = (
        sa.select(AgentCredential.agent_id, sa.func.max(AgentCredential.created_at).label("at"))
        .group_by(AgentCredential.agent_id)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(Agent, last_rotation.c.at)
        .outerjoin(last_rotation, last_rotation.c.agent_id == Agent.id)
        .where(Agent.tenant_id == user.tenant_id)
        .order_by(Agent.created_at, Agent.name)
    ).all()
    return render_template("reference_idp/dashboard.html", tenant=user.tenant, rows=rows)


@bp.route("/agents/new", methods=["GET", "POST"])
@login_required
def new_agent() -> Any:
    user = current_user()
    assert user is not None
    error = None
    name = ""
    if request.method == "POST":
        name = request.form.get("name", "").strip()
        if not name:
            error = "Give the agent a name."
        elif len(name) > MAX_AGENT_NAME:
            error = f"Names are at most {MAX_AGENT_NAME} characters."
        else:
            issued = create_agent(user.tenant, name)
            db.session.commit()
            return _show_secret(issued, rotated=False)
    status = 400 if error else 200
    return render_template("reference_idp/agent_new.html", error=error, name=name), status


@bp.post("/agents/<uuid:agent_id>/rotate")
@login_required
def rotate(agent_id: uuid.UUID) -> Any:
    agent = _tenant_agent(agent_id)
    issued = rotate_credential(agent)
    db.session.commit()
    return _show_secret(issued, rotated=True)


@bp.post("/agents/<uuid:agent_id>/delete")
@login_required
def delete(agent_id: uuid.UUID) -> Any:
    agent = _tenant_agent(agent_id)
    name = agent.name
    delete_agent(agent)
    db.session.commit()
    flash(f"Deleted agent '{name}'. Its usage stays in the tenant totals.")
    return redirect(url_for("dashboard.index"))
