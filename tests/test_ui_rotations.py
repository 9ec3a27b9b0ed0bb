"""The credential rotation table: its query and its service method, on real SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from flask import Flask
from rotation_order import sort_rows

from agentidp_analytics_plugin.errors import AnalyticsError
from agentidp_analytics_plugin.params import ROTATION_SORT_KEYS, parse_query
from agentidp_analytics_plugin.queries.rotations import credential_rotations
from agentidp_analytics_plugin.state import get_state
from api_fixtures import count_statements
from host_app import HostData
from ui_helpers import create_ui_pg_database, roll_up

TODAY = date(2026, 3, 31)
FROM, TO = date(2026, 3, 1), date(2026, 3, 30)


@pytest.fixture(scope="session")
def pg_url() -> str:
    return create_ui_pg_database()


def _d(day: int, month: int = 3) -> date:
    return date(2026, month, day)


@pytest.fixture
def scenario(app: Flask, host: HostData) -> dict[str, uuid.UUID]:
    """Agents with known rotation histories (plus noise that must not count)."""
    tenant, other = host.tenant("pro"), host.tenant("pro")
    ids = {
        "busy": host.agent(tenant, "busy"),  # 2, 10, 10 (x2), 20 in March: 4 rotations, span 18 -> 6.0
        "old": host.agent(tenant, "old"),  # last rotated 2026-01-15, before the period: stale
        "never": host.agent(tenant, "Never-rotated"),  # no rotation at all: stale
        "once": host.agent(tenant, "once"),  # one rotation on 2026-03-29: no mean
    }
    stranger = host.agent(other, "stranger")
    events = [
        (tenant, ids["busy"], _d(2), "credential_rotations", 1),
        (tenant, ids["busy"], _d(10), "credential_rotations", 2),
        (tenant, ids["busy"], _d(20), "credential_rotations", 1),
        (tenant, ids["busy"], _d(31), "credential_rotations", 5),  # after `to`: ignored
        (tenant, ids["busy"], _d(12), "api_calls", 100),
        (tenant, ids["old"], _d(15, 1), "credential_rotations", 1),
        (tenant, ids["once"], _d(29), "credential_rotations", 1),
        (tenant, None, _d(5), "credential_rotations", 7),  # tenant-wide: never an agent row
        (other, stranger, _d(5), "credential_rotations", 3),  # another tenant
    ]
    host.events(events)
    roll_up(app, [e[2] for e in events], TODAY)
    return {"tenant": tenant, "stranger": stranger, **ids}


def _table(app: Flask, tenant: uuid.UUID, **kwargs) -> list[dict]:
    with app.app_context():
        return get_state(app).service.get_credential_rotations(tenant, FROM, TO, **kwargs)["agents"]


def test_lists_every_agent_of_the_tenant_and_no_other(app: Flask, scenario: dict) -> None:
    names = {r["agentName"] for r in _table(app, scenario["tenant"])}
    assert names == {"busy", "old", "Never-rotated", "once"}


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        ("busy", (4, "2026-03-20", 6.0, False)),
        ("old", (0, "2026-01-15", None, True)),
        ("never", (0, None, None, True)),
        ("once", (1, "2026-03-29", None, False)),
    ],
    ids=["busy", "rotated-before-period", "never", "once"],
)
def test_row_values(app: Flask, scenario: dict, agent: str, expected: tuple) -> None:
    (row,) = [r for r in _table(app, scenario["tenant"]) if r["agentId"] == str(scenario[agent])]
    assert (row["rotations"], row["lastRotation"], row["meanDaysBetween"], row["stale"]) == expected


def test_stale_threshold_is_configurable(app: Flask, scenario: dict) -> None:
    rows = _table(app, scenario["tenant"], stale_days=5)
    stale = {r["agentName"] for r in rows if r["stale"]}
    assert stale == {"busy", "old", "Never-rotated"}  # busy last rotated 10 days before `to`


def test_agent_filter_keeps_one_row(app: Flask, scenario: dict) -> None:
    rows = _table(app, scenario["tenant"], agent_id=scenario["once"])
    assert [r["agentName"] for r in rows] == ["once"]


@pytest.mark.parametrize("agent", ["stranger", "unknown"], ids=["other-tenants-agent", "unknown-agent"])
def test_an_agent_not_the_tenants_is_not_found(app: Flask, scenario: dict, agent: str) -> None:
    agent_id = scenario.get(agent, uuid.uuid4())
    with pytest.raises(AnalyticsError) as raised:
        _table(app, scenario["tenant"], agent_id=agent_id)
    assert (raised.value.status, raised.value.code) == (404, "AGENT_NOT_FOUND")


@pytest.mark.parametrize("sort", ROTATION_SORT_KEYS)
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_sql_order_matches_the_documented_order(app: Flask, scenario: dict, sort: str, direction: str) -> None:
    rows = _table(app, scenario["tenant"], sort=sort, direction=direction)
    assert rows == sort_rows(rows, sort, direction)


def test_means_that_read_the_same_sort_by_name(app: Flask, host: HostData) -> None:
    tenant = host.tenant("pro")
    zeta, alpha = host.agent(tenant, "zeta"), host.agent(tenant, "alpha")
    events = [(tenant, zeta, _d(day), "credential_rotations", 1) for day in range(1, 30)]  # 28 / 28 = 1.0
    events += [(tenant, alpha, _d(day), "credential_rotations", 1) for day in range(1, 29) if day != 5]  # 27 / 26
    host.events(events)
    roll_up(app, [e[2] for e in events], TODAY)
    rows = _table(app, tenant, sort="mean_days", direction="asc")
    assert [(r["agentName"], r["meanDaysBetween"]) for r in rows] == [("alpha", 1.0), ("zeta", 1.0)]


def test_an_unknown_sort_column_is_refused(app: Flask, scenario: dict) -> None:
    with pytest.raises(AnalyticsError) as raised:
        _table(app, scenario["tenant"], sort="name; DROP TABLE agents")
    assert raised.value.code == "INVALID_PARAMETER"


def test_the_query_is_one_statement(app: Flask, scenario: dict) -> None:
    state = get_state(app)
    with app.app_context(), count_statements(app) as counter, state.engine.connect() as conn:
        credential_rotations(conn, state.tables, scenario["tenant"], FROM, TO)
    assert len(counter.statements) == 1


def test_a_second_identical_request_is_served_from_the_cache(app: Flask, scenario: dict) -> None:
    first = _table(app, scenario["tenant"], sort="agent")
    with count_statements(app) as counter:
        assert _table(app, scenario["tenant"], sort="agent") == first
    # The in-process cache asks the database for the aggregate generation (one key lookup); nothing else.
    assert all("analytics_job_state" in statement for statement in counter.statements)
    assert len(counter.statements) <= 1


def test_each_order_is_a_cache_entry_of_its_own(app: Flask, scenario: dict) -> None:
    by_name = _table(app, scenario["tenant"], sort="agent", direction="asc")
    assert _table(app, scenario["tenant"], sort="agent", direction="desc") == by_name[::-1]


def test_cache_misses_are_timed_under_the_tables_own_endpoint_name(app: Flask, scenario: dict) -> None:
    _table(app, scenario["tenant"])
    _table(app, scenario["tenant"])
    registry = get_state(app).metrics.registry
    labels = {"endpoint": "credential-rotations"}
    assert registry.get_sample_value("agentidp_analytics_query_duration_ms_count", labels) == 1
    assert registry.get_sample_value("agentidp_analytics_cache_hits_total", labels) == 1


def _row(name: str, rotations_: int, last: str | None, mean: float | None, stale: bool) -> dict:
    return {
        "agentId": name,
        "agentName": name,
        "rotations": rotations_,
        "lastRotation": last,
        "meanDaysBetween": mean,
        "stale": stale,
    }


ROWS = [
    _row("b", 3, "2026-03-20", 4.0, False),
    _row("a", 0, None, None, True),
    _row("c", 1, "2026-01-10", None, True),
    _row("d", 5, "2026-03-30", 2.5, False),
]


@pytest.mark.parametrize(
    ("sort", "direction", "order"),
    [
        ("agent", "asc", "abcd"),
        ("agent", "desc", "dcba"),
        ("rotations", "desc", "dbca"),
        ("last_rotation", "asc", "acbd"),
        ("last_rotation", "desc", "dbca"),
        ("mean_days", "desc", "bdac"),
        ("mean_days", "asc", "dbac"),
        ("stale", "desc", "acbd"),
    ],
    ids=lambda v: str(v),
)
def test_the_documented_order(sort: str, direction: str, order: str) -> None:
    assert "".join(r["agentId"] for r in sort_rows(ROWS, sort, direction)) == order


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ({"agentId": "not-a-uuid"}, "INVALID_AGENT_ID"),
        ({"sort": "name; DROP TABLE agents"}, "INVALID_PARAMETER"),
        ({"dir": "sideways"}, "INVALID_PARAMETER"),
        ({"from": "2025-03-30"}, "INVALID_DATE_RANGE"),
    ],
    ids=["malformed-agent", "unknown-sort", "unknown-direction", "over-365-days"],
)
def test_parameters_of_the_rotation_table(args: dict, code: str) -> None:
    with pytest.raises(AnalyticsError) as raised:
        parse_query({"to": "2026-03-30", **args}, "credential-rotations", TODAY)
    assert (raised.value.status, raised.value.code) == (400, code)


def test_the_rotation_table_takes_a_year() -> None:
    q = parse_query({"from": "2025-03-31", "to": "2026-03-30"}, "credential-rotations", TODAY)
    assert (q.days, q.sort, q.direction) == (365, "stale", "desc")
