"""Usage recording: one atomic upsert per event, tenant-wide rows included."""

from __future__ import annotations

import datetime as dt

import pytest
from idp_helpers import make_agent, make_tenant, usage_counts

from reference_idp.extensions import db
from reference_idp.usage import record_usage

DAY = dt.date(2026, 3, 2)


def test_repeated_events_add_to_one_row(app):
    with app.app_context():
        agent = make_agent(make_tenant()).agent
        record_usage(agent.tenant_id, agent.id, "api_calls", 2, day=DAY)
        record_usage(agent.tenant_id, agent.id, "api_calls", 5, day=DAY)
        db.session.commit()
        assert usage_counts(agent.tenant_id) == {(agent.id, DAY, "api_calls"): 7}


def test_tenant_wide_events_add_to_one_row(app):
    with app.app_context():
        tenant = make_tenant()
        for _ in range(3):
            record_usage(tenant.id, None, "api_calls", day=DAY)
        db.session.commit()
        assert usage_counts(tenant.id) == {(None, DAY, "api_calls"): 3}


def test_days_and_metrics_are_separate_counters(app):
    with app.app_context():
        tenant = make_tenant()
        record_usage(tenant.id, None, "api_calls", day=DAY)
        record_usage(tenant.id, None, "api_calls", day=DAY + dt.timedelta(days=1))
        record_usage(tenant.id, None, "token_issuances", day=DAY)
        db.session.commit()
        assert len(usage_counts(tenant.id)) == 3


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_unknown_metric_is_refused(app):
    with app.app_context(), pytest.raises(ValueError, match="metric_type"):
        record_usage(make_tenant().id, None, "page_views")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_events_default_to_the_utc_day(app, monkeypatch):
    import reference_idp.usage as usage

    monkeypatch.setattr(usage, "utc_today", lambda: DAY)
    with app.app_context():
        tenant = make_tenant()
        record_usage(tenant.id, None, "api_calls")
        db.session.commit()
        assert usage_counts(tenant.id) == {(None, DAY, "api_calls"): 1}
