"""``flask idp ...``: the demo seed and tenant API tokens."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from reference_idp.analytics_host import resolve_api_tenant
from reference_idp.extensions import db
from reference_idp.models import Agent, Tenant, TenantApiToken, UsageEvent
from reference_idp.seed import (
    DELETED_AGENT_NAME,
    LONG_NAME,
    PROBE_AGENT_NAMES,
    XSS_PROBE_NAME,
    table_counts,
)


def _separate_streams(app):
    """A CLI runner whose result has stdout and stderr apart (click 8.2 does so by default)."""
    try:
        return app.test_cli_runner(mix_stderr=False)  # click 8.1
    except TypeError:
        return app.test_cli_runner()


def _seed(app, *args: str):
    result = app.test_cli_runner().invoke(args=["idp", "seed-demo", *args])
    assert result.exit_code == 0, result.output
    return result


def _snapshot(app) -> tuple[dict[str, int], list[tuple]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(
                UsageEvent.tenant_id,
                UsageEvent.agent_id,
                UsageEvent.date,
                UsageEvent.metric_type,
                UsageEvent.count,
            ).order_by(
                UsageEvent.tenant_id, UsageEvent.date, UsageEvent.metric_type, UsageEvent.agent_id
            )
        ).all()
        return table_counts(), [tuple(r) for r in rows]


def test_seed_demo_twice_leaves_the_same_data(unmigrated_app):
    _seed(unmigrated_app)
    first = _snapshot(unmigrated_app)
    second_run = _seed(unmigrated_app)
    assert "already present" in second_run.output
    assert _snapshot(unmigrated_app) == first


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_seed_demo_reset_rebuilds_identical_data(unmigrated_app):
    _seed(unmigrated_app)
    first = _snapshot(unmigrated_app)
    _seed(unmigrated_app, "--reset")
    assert _snapshot(unmigrated_app) == first


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_seed_demo_history_spans_120_days_ending_yesterday(unmigrated_app):
    _seed(unmigrated_app)
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    with unmigrated_app.app_context():
        first, last = db.session.execute(
            sa.select(sa.func.min(UsageEvent.date), sa.func.max(UsageEvent.date))
        ).one()
    assert last == yesterday
    assert (last - first).days == 119


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_seed_demo_creates_the_demo_tenants(unmigrated_app):
    result = _seed(unmigrated_app)
    with unmigrated_app.app_context():
        tiers = dict(db.session.execute(sa.select(Tenant.slug, Tenant.tier)).all())
        names = set(db.session.scalars(sa.select(Agent.name)))
        tenant_wide = db.session.scalar(
            sa.select(sa.func.count()).where(UsageEvent.agent_id.is_(None))
        )
    assert tiers == {"acme": "pro", "globex": "enterprise", "initech": "free"}
    assert DELETED_AGENT_NAME not in names
    assert 20 <= len(names) <= 30
    assert tenant_wide > 0
    assert "admin@acme.example" in result.output
    assert "idp token" in result.output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_demo_agents_have_names_like_real_ones(unmigrated_app):
    _seed(unmigrated_app)
    with unmigrated_app.app_context():
        names = set(db.session.scalars(sa.select(Agent.name)))
    assert not names & set(PROBE_AGENT_NAMES)
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name) and len(name) <= 40 for name in names)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_seed_demo_with_probe_agents_gives_acme_the_markup_and_long_names(unmigrated_app):
    _seed(unmigrated_app, "--with-probe-agents")
    with unmigrated_app.app_context():
        acme_names = set(
            db.session.scalars(sa.select(Agent.name).join(Tenant).where(Tenant.slug == "acme"))
        )
    assert {XSS_PROBE_NAME, LONG_NAME} <= acme_names
    assert len(LONG_NAME) > 150


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_seed_demo_keeps_about_one_percent_token_failures(unmigrated_app):
    _seed(unmigrated_app)
    with unmigrated_app.app_context():
        totals = dict(
            db.session.execute(
                sa.select(UsageEvent.metric_type, sa.func.sum(UsageEvent.count)).group_by(
                    UsageEvent.metric_type
                )
            ).all()
        )
    ratio = totals["token_failures"] / (totals["token_issuances"] + totals["token_failures"])
    assert 0.003 < ratio < 0.03
    assert totals["credential_rotations"] > 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_token_for_unknown_slug_fails_and_writes_nothing(app):
    result = _separate_streams(app).invoke(args=["idp", "token", "nope"])
    assert result.exit_code != 0
    assert "No tenant with slug 'nope'" in result.stderr
    assert result.stdout == ""
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(TenantApiToken)) == 0


def test_token_command_prints_a_working_tenant_token(app):
    with app.app_context():
        db.session.add(Tenant(slug="acme", name="Acme", tier="pro"))
        db.session.commit()
    result = _separate_streams(app).invoke(args=["idp", "token", "acme"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("idp_")
    with app.test_request_context(headers={"Authorization": f"Bearer {token}"}):
        from flask import request

        tenant_id, tier = resolve_api_tenant(request)
    assert tier == "pro"
    with app.app_context():
        assert db.session.get(Tenant, tenant_id).slug == "acme"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_token_before_migrations_fails_with_advice(unmigrated_app):
    result = _separate_streams(unmigrated_app).invoke(args=["idp", "token", "acme"])
    assert result.exit_code != 0
    assert "db upgrade'" in result.stderr


def test_flask_db_upgrade_command_builds_the_schema(unmigrated_app):
    result = unmigrated_app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with unmigrated_app.app_context():
        assert "usage_events" in sa.inspect(db.engine).get_table_names()
