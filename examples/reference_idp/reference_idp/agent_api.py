"""The agent-facing API, authenticated with access tokens from ``/oauth/token``.

Every authenticated request counts one ``api_calls`` event for its agent;
rejected requests are not attributed to anyone. The caller is identified once,
before any view runs, for every path under ``/api/v1/`` (unknown ones too), and
kept in ``g.api_caller`` as (tenant_id, agent_id): the analytics plugin's
call-pattern hook reads it there (``ANALYTICS_CALL_PATTERNS_CALLER_ATTR``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, g, jsonify, request

from .extensions import db
from .models import Agent, AgentCredential
from .security import bearer_token
from .tokens import agent_for_access_token
from .usage import API_CALLS, record_usage

PREFIX = "/api/v1"
bp = Blueprint("agent_api", __name__, url_prefix=PREFIX)


@bp.before_app_request
def _identify_agent() -> None:
    """Authenticate the agent of any ``/api/v1/`` request once, matched route or not."""
    if not request.path.startswith(PREFIX + "/"):
        return
    token = bearer_token(request.headers.get("Authorization"))
    agent = agent_for_access_token(token) if token else None
    g.api_agent = agent
    if agent is not None:
        g.api_caller = (agent.tenant_id, agent.id)


def _authenticated_agent() -> Agent | None:
    return g.get("api_agent")


def _unauthorized() -> Any:
    response = jsonify(error="invalid_token", error_description="A valid access token is required.")
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


@bp.get("/agents/me")
def me() -> Any:
    """Who the calling agent is; the simplest authenticated call an agent can make."""
    agent = _authenticated_agent()
    if agent is None:
        return _unauthorized()
    body = {
        "id": str(agent.id),
        "name": agent.name,
        "client_id": agent.client_id,
        "tenant_id": str(agent.tenant_id),
        "created_at": agent.created_at.isoformat(),
    }
    record_usage(agent.tenant_id, agent.id, API_CALLS)
    db.session.commit()
    return jsonify(body)


@bp.get("/agents/me/credentials")
def my_credentials() -> Any:
    """When the calling agent's secrets were issued and revoked (never the secrets themselves)."""
    agent = _authenticated_agent()
    if agent is None:
        return _unauthorized()
    rows = db.session.scalars(
        sa.select(AgentCredential)
        .where(AgentCredential.agent_id == agent.id)
        .order_by(AgentCredential.created_at)
    ).all()
    body = [
        {
            "id": str(c.id),
            "created_at": c.created_at.isoformat(),
            "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None,
        }
        for c in rows
    ]
    record_usage(agent.tenant_id, agent.id, API_CALLS)
    db.session.commit()
    return jsonify(credentials=body)
