"""The demo seed gives the insights something to find: dormant, spiking and overdue agents,
the tenant's failure rate and the token endpoint's outage in the call patterns."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask

from reference_idp.extensions import db
from reference_idp.models import Tenant
from reference_idp.seed import FAILURE_SPIKE_AGENT, FAILURE_SPIKE_DAYS_AGO, OUTAGE_DAYS_AGO

pytestmark = pytest.mark.filterwarnings(
    "ignore:Skipped unsupported reflection of expression-based index"
)


@pytest.fixture
def demo(make_host: Callable[..., Flask]) -> Flask:
    """The reference host with the plugin, seeded and rolled up."""
    app = make_host("analytics", ANALYTICS_SCHEDULER_ENABLED=False)
    runner = app.test_cli_runner()
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    for args in (
        ["db", "upgrade"],
        ["analytics", "db", "upgrade"],
        ["idp", "seed-demo"],
        ["analytics", "aggregate", "--from", (yesterday - dt.timedelta(days=119)).isoformat(),
         "--to", yesterday.isoformat()],
    ):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
    return app


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_demo_has_a_dormant_agent_a_failure_spike_and_an_overdue_credential(demo):
    today = dt.datetime.now(dt.UTC).date()
    with demo.app_context():
        acme = db.session.scalar(sa.select(Tenant.id).where(Tenant.slug == "acme"))
        service = demo.extensions["agentidp_analytics"].service
        last_30_days = (today - dt.timedelta(days=30), today - dt.timedelta(days=1))
        found = service.get_insights(acme, *last_30_days)
    kinds = {f["kind"] for f in found["insights"]}
    assert {"dormant_agent", "failure_spike", "overdue_rotation"} <= kinds
    [spike] = [f for f in found["insights"] if f["kind"] == "failure_spike"]
    assert spike["agents"][0]["agentName"] == FAILURE_SPIKE_AGENT
    spike_day = today - dt.timedelta(days=FAILURE_SPIKE_DAYS_AGO)
    assert spike["numbers"]["date"] == spike_day.isoformat()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_demo_has_a_failure_rate_finding_and_failed_call_spikes_on_the_outage(demo):
    today = dt.datetime.now(dt.UTC).date()
    with demo.app_context():
        acme = db.session.scalar(sa.select(Tenant.id).where(Tenant.slug == "acme"))
        service = demo.extensions["agentidp_analytics"].service
        last_30_days = (today - dt.timedelta(days=30), today - dt.timedelta(days=1))
        found = service.get_insights(acme, *last_30_days, call_patterns=True)["insights"]
    [rate] = [f for f in found if f["kind"] == "tenant_failure_rate"]
    # The spiking agent's refused token requests lift the tenant's failure rate that day.
    spike_day = today - dt.timedelta(days=FAILURE_SPIKE_DAYS_AGO)
    assert rate["numbers"]["date"] == spike_day.isoformat()
    outage = {(today - dt.timedelta(days=n)).isoformat() for n in OUTAGE_DAYS_AGO}
    spikes = [f["numbers"] for f in found if f["kind"] == "call_error_spike"]
    on_outage = [n for n in spikes if n["date"] in outage]
    assert on_outage and all(n["serverErrors"] > n["clientErrors"] for n in on_outage)
