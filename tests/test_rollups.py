"""The roll-ups equal the aggregates, and reads from them equal the raw-aggregate reads, on SQLite and PostgreSQL.

Invariant: after every job run, late event, re-run, agent or tenant deletion,
each roll-up equals its computation from the aggregates (``rollup_helpers``).
Equivalence: over randomised data (several tenants, deleted agents, tenant-wide
rows, zero counts, late events, periods cut across ISO weeks) the usage
summary, token trends and agent activity answer exactly what the raw-aggregate
queries they replaced answer (``reference_queries``), field order included.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import date, timedelta

import pytest
import reference_queries as reference
import rollup_helpers
import sqlalchemy as sa
from flask import Flask

from agentidp_analytics_plugin import retention
from agentidp_analytics_plugin.queries import activity, comparison, summary, trends
from agentidp_analytics_plugin.state import get_state
from host_app import HostData

TODAY = date(2026, 11, 20)
FIRST = date(2026, 10, 1)  # a Thursday: the data's weeks are cut at both ends
DAYS = [FIRST + timedelta(days=i) for i in range((TODAY - FIRST).days)]
METRICS = ("api_calls", "token_issuances", "token_failures", "credential_rotations", "logins")


def aggregate(app: Flask, days: list[date]) -> None:
    with app.app_context():
        report = get_state(app).aggregate(days=days, today=TODAY)
    assert report.ok, report.failed


def assert_rollups_match(host: HostData) -> None:
    assert rollup_helpers.actual(host) == rollup_helpers.expected(host)


@pytest.fixture
def two_agents(app: Flask, host: HostData):
    tenant = host.tenant()
    a, b = host.agent(tenant, "a"), host.agent(tenant, "b")
    d = DAYS[10]
    host.events(
        [
            (tenant, a, d, "api_calls", 5),
            (tenant, a, d + timedelta(days=3), "token_issuances", 2),
            (tenant, b, d + timedelta(days=1), "token_failures", 1),
            (tenant, b, d + timedelta(days=1), "api_calls", 0),
            (tenant, None, d, "api_calls", 9),
        ]
    )
    return tenant, a, b, d


def test_the_job_keeps_the_rollups_equal_to_the_aggregates(app, host, two_agents):
    aggregate(app, DAYS)
    assert_rollups_match(host)
    assert rollup_helpers.actual(host)["active_agents"]


def test_a_rerun_leaves_the_rollups_as_they_are(app, host, two_agents):
    aggregate(app, DAYS)
    before = rollup_helpers.actual(host)
    aggregate(app, DAYS)
    assert rollup_helpers.actual(host) == before


def test_a_late_event_between_two_active_days_moves_the_next_days_first_occurrence(app, host, two_agents):
    tenant, a, _, d = two_agents
    aggregate(app, DAYS)
    host.events([(tenant, a, d + timedelta(days=1), "api_calls", 1)])  # a's next day after d+1 was d+3
    aggregate(app, [d + timedelta(days=1)])
    assert_rollups_match(host)


def test_an_agent_day_gone_from_the_source_leaves_the_first_occurrences(app, host, two_agents):
    tenant, a, _, d = two_agents
    host.events([(tenant, a, d + timedelta(days=1), "api_calls", 4)])
    aggregate(app, DAYS)
    host.execute("DELETE FROM usage_events WHERE date = :d AND count = 4", d=d + timedelta(days=1))
    aggregate(app, [d + timedelta(days=1)])
    assert_rollups_match(host)


def test_days_aggregated_out_of_order_give_the_same_rollups(app, host, two_agents):
    aggregate(app, list(reversed(DAYS)))
    assert_rollups_match(host)


def test_deleting_an_agent_keeps_the_rollups_equal_to_the_aggregates(app, host, two_agents):
    _, a, _, _ = two_agents
    aggregate(app, DAYS)
    host.delete_agent(a)
    assert_rollups_match(host)
    assert all(key[2] != str(a) for key in rollup_helpers.actual(host)["agent_weekly"])


def test_deleting_a_tenant_takes_its_rollups(app, host, two_agents):
    tenant, _, _, _ = two_agents
    other = host.tenant()
    host.events([(other, host.agent(other, "o"), DAYS[3], "api_calls", 1)])
    aggregate(app, DAYS)
    host.delete_tenant(tenant)
    rollups = rollup_helpers.actual(host)
    assert all(key[0] != str(tenant) for table in rollups.values() for key in table)
    assert_rollups_match(host)


# --- randomised: the invariant after every step, and the reads against the raw-aggregate reads ------------


def _random_events(rng: random.Random, tenants: dict, days: list[date], n: int) -> list[tuple]:
    rows = []
    for _ in range(n):
        tenant = rng.choice(list(tenants))
        agents = tenants[tenant]
        agent = rng.choice(agents) if agents and rng.random() < 0.85 else None
        count = rng.choice((0, 1, 1, 2, 3, 7, 40))
        rows.append((tenant, agent, rng.choice(days), rng.choice(METRICS), count))
    return rows


def _world(host: HostData, rng: random.Random) -> dict[uuid.UUID, list[uuid.UUID]]:
    tenants: dict[uuid.UUID, list[uuid.UUID]] = {}
    for t in range(4):
        tenant = host.tenant()
        # Names collide on purpose: the ranking's tie-break goes to name, then id.
        tenants[tenant] = [
            host.agent(tenant, rng.choice(("x", "y", f"agent {t}-{i}"))) for i in range(rng.randint(0, 6))
        ]
    return tenants


def _history(app: Flask, host: HostData, rng: random.Random, check_each_step: bool):
    """A tenant world through a month and a half of jobs, late events, deleted agents and vanished groups."""
    tenants = _world(host, rng)
    host.events(_random_events(rng, tenants, DAYS, 400))
    aggregate(app, rng.sample(DAYS, len(DAYS)))
    steps = [
        lambda: host.events(_random_events(rng, tenants, DAYS[-10:], 40)),  # late events
        lambda: host.execute(
            "DELETE FROM usage_events WHERE metric_type = 'token_failures' AND date = :d", d=rng.choice(DAYS)
        ),
        lambda: _delete_an_agent(host, tenants, rng),
        lambda: host.events(_random_events(rng, tenants, DAYS[:5], 20)),  # very late events
    ]
    for step in steps:
        step()
        aggregate(app, rng.sample(DAYS, 12) + DAYS[:5])
        if check_each_step:
            assert_rollups_match(host)
    aggregate(app, DAYS)  # everything caught up: aggregates equal the source
    return tenants


def _delete_an_agent(host: HostData, tenants: dict, rng: random.Random) -> None:
    with_agents = [t for t, agents in tenants.items() if agents]
    if with_agents:
        tenant = rng.choice(with_agents)
        agent = tenants[tenant].pop(rng.randrange(len(tenants[tenant])))
        host.delete_agent(agent)


@pytest.mark.property
@pytest.mark.parametrize("seed", [1, 2])
def test_the_rollups_stay_equal_to_the_aggregates_through_a_random_history(app, host, seed):
    _history(app, host, random.Random(seed), check_each_step=True)
    assert_rollups_match(host)


def _periods(rng: random.Random) -> list[tuple[date, date]]:
    periods = [(DAYS[0], DAYS[-1]), (DAYS[0] - timedelta(days=40), DAYS[-1] + timedelta(days=5)), (DAYS[7], DAYS[7])]
    for _ in range(12):
        start = rng.choice(DAYS)
        periods.append((start, min(start + timedelta(days=rng.randint(0, 40)), DAYS[-1] + timedelta(days=3))))
    return periods


def _same(new: dict, old: dict) -> None:
    assert json.dumps(new) == json.dumps(old)  # values and field order


@pytest.mark.property
def test_reads_from_the_rollups_answer_what_the_raw_aggregates_answer(app, host):
    rng = random.Random(7)
    tenants = _history(app, host, rng, check_each_step=False)
    tenants[uuid.uuid4()] = []  # a tenant with nothing
    with app.app_context():
        tables = get_state(app).tables
        engine = get_state(app).engine
        with engine.connect() as conn:
            names = dict(host.execute("SELECT id, coalesce(name, '') FROM agents").fetchall())
            for tenant, agents in tenants.items():
                for from_, to in _periods(rng):
                    args = (conn, tables, tenant, from_, to)
                    _same(summary.usage_summary(*args), reference.usage_summary(*args))
                    agg = tables.aggregates
                    raw_failures = conn.execute(
                        sa.select(sa.func.coalesce(sa.func.sum(agg.c["count"]), 0)).where(
                            agg.c.tenant_id == tenant,
                            agg.c.date.between(from_, to),
                            agg.c.metric_type == "token_failures",
                        )
                    ).scalar_one()
                    assert comparison.token_failures(*args, None) == raw_failures
                    for granularity in ("day", "week"):
                        _same(trends.token_trends(*args, granularity), reference.token_trends(*args, granularity))
                    for top in (None, 1, 3):
                        _same(activity.agent_activity(*args, top=top), reference.agent_activity(*args, top=top))
                    for agent in agents[:2]:
                        named = (agent, names.get(agent, names.get(str(agent), names.get(agent.hex, ""))))
                        _same(summary.usage_summary(*args, agent), reference.usage_summary(*args, agent))
                        _same(trends.token_trends(*args, "week", agent), reference.token_trends(*args, "week", agent))
                        _same(activity.agent_activity(*args, named), reference.agent_activity(*args, named))


def test_retention_keeps_the_rollups_equal_to_the_aggregates_left(app, host, two_agents):
    tenant, a, b, d = two_agents
    host.events([(tenant, a, d + timedelta(days=n), "api_calls", 1) for n in range(0, 20, 3)])
    host.events([(tenant, b, d + timedelta(days=n), "token_issuances", 2) for n in range(0, 20, 5)])
    aggregate(app, DAYS)
    cutoff = d + timedelta(days=8)  # mid-week, between active days of both agents
    with app.app_context(), get_state(app).engine.connect() as conn:
        retention.apply(conn, get_state(app).tables, cutoff)
    assert_rollups_match(host)
    assert not any(key[2] < cutoff for key in rollup_helpers.actual(host)["active_agents"])


def test_the_partitioned_layout_keeps_the_rollups_equal_to_the_aggregates(pg_app, pg_host):
    tenant = pg_host.tenant()
    agents = [pg_host.agent(tenant, f"p{i}") for i in range(3)]
    pg_host.events([(tenant, agent, day, "api_calls", 1 + i) for i, agent in enumerate(agents) for day in DAYS[::4]])
    assert pg_app.test_cli_runner().invoke(args=["analytics", "db", "partition"]).exit_code == 0
    aggregate(pg_app, DAYS)
    pg_host.execute("DELETE FROM usage_events WHERE date = :d", d=DAYS[8])
    aggregate(pg_app, [DAYS[8]])
    pg_host.delete_agent(agents[0])
    assert_rollups_match(pg_host)
