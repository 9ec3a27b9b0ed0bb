"""Deleting agents and tenants: never fails, never changes tenant totals.

The unique key treats a NULL agent as one value, so a plain ``ON DELETE SET
NULL`` would collide with an existing tenant-wide row. The trigger created
by the host revision folds the agent's usage into the tenant-wide bucket
first; these tests delete in each way the host (or an operator) can.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from idp_helpers import csrf_from, make_agent, make_tenant, metric_total, usage_counts

from reference_idp.credentials import delete_agent, rotate_credential
from reference_idp.extensions import db
from reference_idp.models import (
    Agent,
    AgentAccessToken,
    AgentCredential,
    Tenant,
    TenantApiToken,
    UsageEvent,
    User,
)
from reference_idp.tokens import create_tenant_api_token, issue_access_token
from reference_idp.usage import METRIC_TYPES, record_usage

DAY1 = dt.date(2026, 3, 2)
DAY2 = dt.date(2026, 3, 3)


def _history(tenant: Tenant) -> tuple[Agent, Agent]:
    """Two agents with overlapping usage, plus tenant-wide rows that collide."""
    doomed = make_agent(tenant, "doomed").agent
    kept = make_agent(tenant, "kept").agent
    for day in (DAY1, DAY2):
        record_usage(tenant.id, doomed.id, "api_calls", 10, day=day)
        record_usage(tenant.id, doomed.id, "token_issuances", 2, day=day)
        record_usage(tenant.id, kept.id, "api_calls", 7, day=day)
    record_usage(tenant.id, None, "api_calls", 100, day=DAY1)  # collides with doomed on DAY1
    record_usage(tenant.id, doomed.id, "token_failures", 1, day=DAY2)
    db.session.commit()
    return doomed, kept


def _totals(tenant_id) -> dict[str, int]:
    return {metric: metric_total(tenant_id, metric) for metric in METRIC_TYPES}


DELETERS = {
    "service": lambda agent: delete_agent(agent),
    "orm": lambda agent: db.session.delete(agent),
    "raw-sql": lambda agent: db.session.execute(
        sa.text("DELETE FROM agents WHERE id = :id"),
        {"id": agent.id.hex if db.engine.dialect.name == "sqlite" else agent.id},
    ),
}


@pytest.mark.parametrize("how", list(DELETERS), ids=list(DELETERS))
def test_deleting_an_agent_keeps_tenant_totals(app, how):
    with app.app_context():
        tenant = make_tenant()
        doomed, _ = _history(tenant)
        before = _totals(tenant.id)
        DELETERS[how](doomed)
        db.session.commit()
        assert _totals(tenant.id) == before


def test_deleted_agents_usage_moves_to_the_tenant_wide_rows(app):
    with app.app_context():
        tenant = make_tenant()
        doomed, kept = _history(tenant)
        doomed_id = doomed.id
        delete_agent(doomed)
        db.session.commit()
        counts = usage_counts(tenant.id)
        assert counts[(None, DAY1, "api_calls")] == 110
        assert counts[(None, DAY2, "api_calls")] == 10
        assert counts[(None, DAY2, "token_failures")] == 1
        assert counts[(kept.id, DAY1, "api_calls")] == 7
        assert all(agent_id != doomed_id for agent_id, _, _ in counts)


def test_deleting_an_agent_removes_its_credentials_and_tokens(app):
    with app.app_context():
        doomed, _ = _history(make_tenant())
        doomed_id = doomed.id
        rotate_credential(doomed)
        issue_access_token(doomed)
        db.session.commit()
        delete_agent(doomed)
        db.session.commit()
        for model in (AgentCredential, AgentAccessToken):
            left = db.session.scalar(
                sa.select(sa.func.count()).select_from(model).where(model.agent_id == doomed_id)
            )
            assert left == 0, model.__tablename__


def test_dashboard_delete_removes_the_agent_and_keeps_totals(app, logged_in):
    client, tenant_id = logged_in
    with app.app_context():
        doomed, _ = _history(db.session.get(Tenant, tenant_id))
        doomed_id = doomed.id
        before = _totals(tenant_id)
    token = csrf_from(client.get("/").get_data(as_text=True))
    response = client.post(f"/agents/{doomed_id}/delete", data={"csrf_token": token})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Agent, doomed_id) is None
        assert _totals(tenant_id) == before


def test_deleting_a_tenant_cascades_to_everything_it_owns(app):
    with app.app_context():
        acme = make_tenant("acme", with_user=True)
        globex = make_tenant("globex", with_user=True)
        for tenant in (acme, globex):
            doomed, _ = _history(tenant)
            issue_access_token(doomed)
            create_tenant_api_token(tenant, "ci")
        db.session.commit()
        globex_before = _totals(globex.id)

        db.session.delete(acme)
        db.session.commit()

        for model in (User, Agent, TenantApiToken, UsageEvent):
            owner = model.tenant_id
            left = db.session.scalar(sa.select(sa.func.count()).where(owner == acme.id))
            assert left == 0, model.__tablename__
        # globex's two agents keep one credential each
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AgentCredential)) == 2
        assert _totals(globex.id) == globex_before


def test_without_the_fold_trigger_the_same_delete_fails(app):
    """Why the trigger exists: SET NULL alone collides with the tenant-wide row."""
    with app.app_context():
        doomed, _ = _history(make_tenant())
        drop = "DROP TRIGGER trg_agents_fold_usage_events"
        if db.engine.dialect.name == "postgresql":
            drop += " ON agents"
        db.session.execute(sa.text(drop))
        db.session.commit()
        with pytest.raises(sa.exc.IntegrityError):
            delete_agent(doomed)
            db.session.commit()
        db.session.rollback()
