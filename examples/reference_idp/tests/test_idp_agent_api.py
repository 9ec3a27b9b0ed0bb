"""``GET /api/v1/agents/me``: access-token authentication and api_calls counting."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from idp_helpers import make_agent, make_tenant, metric_total

from reference_idp.extensions import db
from reference_idp.models import AgentAccessToken


@pytest.fixture
def token(app):
    """(tenant_id, agent name, access token) of an agent that signed in."""
    with app.app_context():
        issued = make_agent(make_tenant(), "reporter")
        tenant_id = issued.agent.tenant_id
        client_id = issued.agent.client_id
    response = app.test_client().post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": issued.client_secret,
        },
    )
    return tenant_id, "reporter", response.get_json()["access_token"]


def test_me_describes_the_calling_agent(app, token):
    tenant_id, name, access_token = token
    response = app.test_client().get(
        "/api/v1/agents/me", headers={"Authorization": f"Bearer {access_token}"}
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["name"] == name
    assert body["tenant_id"] == str(tenant_id)


def test_each_authenticated_call_counts_one_api_call(app, token):
    tenant_id, _, access_token = token
    client = app.test_client()
    for _ in range(4):
        client.get("/api/v1/agents/me", headers={"Authorization": f"Bearer {access_token}"})
    with app.app_context():
        assert metric_total(tenant_id, "api_calls") == 4


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-token", "Basic Zm9vOmJhcg==", "Bearer "],
    ids=["missing", "unknown-token", "wrong-scheme", "empty"],
)
def test_unauthenticated_call_is_401_and_not_counted(app, token, authorization):
    tenant_id = token[0]
    headers = {"Authorization": authorization} if authorization else {}
    response = app.test_client().get("/api/v1/agents/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    with app.app_context():
        assert metric_total(tenant_id, "api_calls") == 0


def test_expired_access_token_is_rejected(app, token):
    _, _, access_token = token
    with app.app_context():
        db.session.execute(
            sa.update(AgentAccessToken).values(
                expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            )
        )
        db.session.commit()
    response = app.test_client().get(
        "/api/v1/agents/me", headers={"Authorization": f"Bearer {access_token}"}
    )
    assert response.status_code == 401
