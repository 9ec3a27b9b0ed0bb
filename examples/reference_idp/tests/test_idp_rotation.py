"""Client-secret rotation: the old secret stops working and the rotation is counted."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from idp_helpers import csrf_from, make_agent, make_tenant, metric_total

from reference_idp.credentials import rotate_credential
from reference_idp.extensions import db
from reference_idp.models import Agent, AgentCredential, Tenant


def _token_status(app, client_id: str, secret: str) -> int:
    return (
        app.test_client()
        .post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
        )
        .status_code
    )


def test_rotation_revokes_the_old_secret_and_the_new_one_works(app, logged_in):
    _, tenant_id = logged_in
    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        first = make_agent(tenant)
        client_id = first.agent.client_id
        second = rotate_credential(db.session.get(Agent, first.agent.id))
        db.session.commit()
    assert _token_status(app, client_id, first.client_secret) == 401
    assert _token_status(app, client_id, second.client_secret) == 200


def test_rotation_keeps_one_active_credential(app, logged_in):
    _, tenant_id = logged_in
    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        agent_id = make_agent(tenant).agent.id
        for _ in range(3):
            rotate_credential(db.session.get(Agent, agent_id))
            db.session.commit()
        rows = db.session.execute(
            sa.select(AgentCredential.revoked_at).where(AgentCredential.agent_id == agent_id)
        ).all()
    assert len(rows) == 4
    assert sum(1 for (revoked_at,) in rows if revoked_at is None) == 1


def test_dashboard_rotation_shows_the_new_secret_once_and_counts_it(app, logged_in):
    client, tenant_id = logged_in
    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        issued = make_agent(tenant)
        agent_id, client_id = issued.agent.id, issued.agent.client_id
    token = csrf_from(client.get("/").get_data(as_text=True))
    response = client.post(f"/agents/{agent_id}/rotate", data={"csrf_token": token})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    new_secret = html.split('class="copyable">')[1].split("<")[0]
    assert _token_status(app, client_id, new_secret) == 200
    assert new_secret not in client.get("/").get_data(as_text=True)
    with app.app_context():
        assert metric_total(tenant_id, "credential_rotations") == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_rotating_another_tenants_agent_is_not_found(app, logged_in):
    client, _ = logged_in
    with app.app_context():
        foreign_agent_id = make_agent(make_tenant("globex")).agent.id
    token = csrf_from(client.get("/").get_data(as_text=True))
    response = client.post(f"/agents/{foreign_agent_id}/rotate", data={"csrf_token": token})
    assert response.status_code == 404
