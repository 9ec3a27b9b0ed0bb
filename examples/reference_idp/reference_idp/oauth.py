"""``POST /oauth/token``: the OAuth 2.0 client-credentials grant (RFC 6749 section 4.4).

Clients authenticate with HTTP Basic or with ``client_id``/``client_secret``
form fields (never both). Every outcome that can be attributed to a known
agent is counted: a token issued as ``token_issuances``, any failed attempt as
``token_failures``. An unknown ``client_id`` has no tenant to count against.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

import sqlalchemy as sa
from flask import Blueprint, g, jsonify, request

from .credentials import active_secret_hashes
from .extensions import db
from .models import Agent
from .security import secret_matches
from .tokens import issue_access_token
from .usage import TOKEN_FAILURES, TOKEN_ISSUANCES, record_usage

bp = Blueprint("oauth", __name__)

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    """An RFC 6749 section 5.2 error response."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def _client_credentials() -> tuple[str | None, str | None]:
    """(client_id, client_secret) from the request, per RFC 6749 section 2.3.1."""
    form_id = request.form.get("client_id")
    form_secret = request.form.get("client_secret")
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        if form_secret is not None:
            raise OAuthError("invalid_request", "Use one client authentication method, not two.")
        basic_id = unquote_plus(auth.username or "")
        if form_id is not None and form_id != basic_id:
            raise OAuthError("invalid_request", "client_id does not match the Basic credentials.")
        return basic_id, unquote_plus(auth.password or "")
    return form_id, form_secret


def _error_response(exc: OAuthError) -> Any:
    response = jsonify(error=exc.error, error_description=exc.description)
    response.status_code = exc.status
    response.headers.update(NO_STORE)
    if exc.status == 401:
        # RFC 6749 section 5.2: a 401 names the scheme the client may authenticate with.
        response.headers["WWW-Authenticate"] = 'Basic realm="oauth", charset="UTF-8"'
    return response


def _find_agent(client_id: str | None) -> Agent | None:
    if not client_id:
        return None
    return db.session.scalar(sa.select(Agent).where(Agent.client_id == client_id))


@bp.post("/oauth/token")
def token() -> Any:
    agent: Agent | None = None
    try:
        client_id, client_secret = _client_credentials()
        agent = _find_agent(client_id)
        if agent is not None:
            # Who called, for the analytics plugin's call patterns (failed attempts included,
            # like the token_failures usage below).
            g.api_caller = (agent.tenant_id, agent.id)
        grant_type = request.form.get("grant_type")
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is required.")
        if grant_type != "client_credentials":
            raise OAuthError(
                "unsupported_grant_type", "Only the client_credentials grant is supported."
            )
        if not client_id or not client_secret:
            if not client_id:
                raise OAuthError("invalid_client", "Client authentication is required.", 401)
            raise OAuthError("invalid_request", "client_secret is required.")
        if agent is None or not any(
            secret_matches(client_secret, h) for h in active_secret_hashes(agent.id)
        ):
            raise OAuthError("invalid_client", "Client authentication failed.", 401)
    except OAuthError as exc:
        if agent is not None:
            record_usage(agent.tenant_id, agent.id, TOKEN_FAILURES)
            db.session.commit()
        return _error_response(exc)

    access_token, expires_in = issue_access_token(agent)
    record_usage(agent.tenant_id, agent.id, TOKEN_ISSUANCES)
    db.session.commit()
    body = {"access_token": access_token, "token_type": "Bearer", "expires_in": expires_in}
    response = jsonify(body)
    response.headers.update(NO_STORE)
    return response
