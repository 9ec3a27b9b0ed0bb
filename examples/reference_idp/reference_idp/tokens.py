"""Agent access tokens and tenant API tokens: issuing them and resolving who presents them.

Both kinds are opaque random values stored as SHA-256 hashes; lookups go by
hash through a unique index, and the match is re-checked in constant time.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db
from .models import Agent, AgentAccessToken, Tenant, TenantApiToken, utcnow
from .security import hash_secret, new_access_token, new_tenant_api_token, secret_matches

# Writing last_used_at on every request would turn reads into writes; once a
# minute is precise enough to spot unused tokens.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def issue_access_token(agent: Agent) -> tuple[str, int]:
    """Create an access token for the agent; returns (token, lifetime in seconds)."""
    lifetime = int(current_app.config["IDP_ACCESS_TOKEN_TTL"])
    token = new_access_token()
    db.session.add(
        AgentAccessToken(
            agent_id=agent.id,
            token_hash=hash_secret(token),
            expires_at=utcnow() + dt.timedelta(seconds=lifetime),
        )
    )
    return token, lifetime


def agent_for_access_token(token: str) -> Agent | None:
    """The agent holding this unexpired access token, or None."""
    digest = hash_secret(token)
    row = db.session.execute(
        sa.select(AgentAccessToken.token_hash, Agent)
        .join(Agent, Agent.id == AgentAccessToken.agent_id)
        .where(AgentAccessToken.token_hash == digest, AgentAccessToken.expires_at > utcnow())
    ).first()
    if row is None or not secret_matches(token, row.token_hash):
        return None
    return row.Agent


def create_tenant_api_token(tenant: Tenant, name: str) -> str:
    """Create a tenant API token (``idp_...``) and return its only plain copy."""
    token = new_tenant_api_token()
    db.session.add(TenantApiToken(tenant_id=tenant.id, name=name, token_hash=hash_secret(token)))
    return token


def tenant_for_api_token(token: str) -> Tenant | None:
    """The tenant owning this API token, or None; notes when the token was last used."""
    digest = hash_secret(token)
    row = db.session.execute(
        sa.select(TenantApiToken, Tenant)
        .join(Tenant, Tenant.id == TenantApiToken.tenant_id)
        .where(TenantApiToken.token_hash == digest)
    ).first()
    if row is None or not secret_matches(token, row.TenantApiToken.token_hash):
        return None
    _touch(row.TenantApiToken)
    return row.Tenant


def _touch(api_token: TenantApiToken) -> None:
    """Update last_used_at on its own connection.

    Resolvers run inside other components' requests (the analytics plugin);
    committing the shared session there would commit their work too.
    """
    now = utcnow()
    last = api_token.last_used_at
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=dt.UTC)
    if last is not None and now - last < LAST_USED_RESOLUTION:
        return
    try:
        with db.engine.begin() as connection:
            connection.execute(
                sa.update(TenantApiToken)
                .where(TenantApiToken.id == api_token.id)
                .values(last_used_at=now)
            )
    except SQLAlchemyError:
        # Bookkeeping only: a busy database must not turn a valid token into an error.
        current_app.logger.warning("could not record last use of tenant API token", exc_info=True)
