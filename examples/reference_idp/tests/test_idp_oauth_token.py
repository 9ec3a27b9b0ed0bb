"""``POST /oauth/token``: the client-credentials grant and the usage it records."""

from __future__ import annotations

import base64

import pytest
import sqlalchemy as sa
from idp_helpers import make_agent, make_tenant, metric_total

from reference_idp.extensions import db
from reference_idp.models import AgentAccessToken
from reference_idp.security import hash_secret


@pytest.fixture
def agent(app):
    """(tenant_id, client_id, client_secret) of a registered agent."""
    with app.app_context():
        issued = make_agent(make_tenant())
        return issued.agent.tenant_id, issued.agent.client_id, issued.client_secret


def _basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def test_valid_form_credentials_get_a_bearer_token(app, agent):
    _, client_id, secret = agent
    response = app.test_client().post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert len(body["access_token"]) >= 40
    assert response.headers["Cache-Control"] == "no-store"


def test_valid_http_basic_credentials_get_a_token(app, agent):
    _, client_id, secret = agent
    response = app.test_client().post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=_basic(client_id, secret)
    )
    assert response.status_code == 200
    assert response.get_json()["token_type"] == "Bearer"


def test_access_token_is_stored_only_as_its_hash(app, agent):
    _, client_id, secret = agent
    token = (
        app.test_client()
        .post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
        )
        .get_json()["access_token"]
    )
    with app.app_context():
        stored = db.session.scalars(sa.select(AgentAccessToken.token_hash)).all()
    assert stored == [hash_secret(token)]


def test_each_issued_token_counts_one_token_issuance(app, agent):
    tenant_id, client_id, secret = agent
    client = app.test_client()
    for _ in range(3):
        client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=_basic(client_id, secret),
        )
    with app.app_context():
        assert metric_total(tenant_id, "token_issuances") == 3
        assert metric_total(tenant_id, "token_failures") == 0


def test_wrong_secret_is_invalid_client_and_counts_a_failure(app, agent):
    tenant_id, client_id, _ = agent
    response = app.test_client().post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": "nope"},
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    with app.app_context():
        assert metric_total(tenant_id, "token_failures") == 1
        assert metric_total(tenant_id, "token_issuances") == 0


def test_unknown_client_is_invalid_client_and_records_nothing(app, agent):
    response = app.test_client().post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "agt_x", "client_secret": "nope"},
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    with app.app_context():
        assert db.session.scalar(sa.text("SELECT count(*) FROM usage_events")) == 0


def test_unsupported_grant_type_is_400_and_counts_a_failure(app, agent):
    tenant_id, client_id, secret = agent
    response = app.test_client().post(
        "/oauth/token",
        data={"grant_type": "password", "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "unsupported_grant_type"
    with app.app_context():
        assert metric_total(tenant_id, "token_failures") == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("form", "use_basic"),
    [
        ({"client_id": "{id}", "client_secret": "{secret}"}, False),
        ({"grant_type": "client_credentials", "client_id": "{id}"}, False),
        ({"grant_type": "client_credentials", "client_secret": "{secret}"}, True),
    ],
    ids=["missing-grant-type", "missing-secret", "two-auth-methods"],
)
def test_malformed_request_is_invalid_request(app, agent, form, use_basic):
    _, client_id, secret = agent
    data = {k: v.format(id=client_id, secret=secret) for k, v in form.items()}
    headers = _basic(client_id, secret) if use_basic else {}
    response = app.test_client().post("/oauth/token", data=data, headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_client_authentication_is_invalid_client(app, agent):
    response = app.test_client().post("/oauth/token", data={"grant_type": "client_credentials"})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
