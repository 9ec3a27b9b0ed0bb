"""The agent-facing API, authenticated with access tokens from ``/oauth/token``.

Every authenticated request counts one ``api_calls`` event for its agent;
rejected requests are not attributed to anyone.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from .extensions import db
from .models import Agent
from .security import bearer_token
from .tokens import agent_for_access_token
from .usage import API_CALLS, record_usage

bp = Blueprint("agent_api", __name__, url_prefix="/api/v1")


def _authenticated_agent() -> Agent | None:
    token = bearer_token(request.headers.get("Authorization"))
    return agent_for_access_token(token) if token else None


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
