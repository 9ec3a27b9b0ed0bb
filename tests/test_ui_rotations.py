"""The rotation table query, on real SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
import sqlalchemy as sa
from flask import Flask

from agentidp_analytics_plugin import rotations
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
    return {"tenant": tenant, **ids}


def _table(app: Flask, tenant: uuid.UUID, **kwargs) -> list[rotations.RotationRow]:
    with app.app_context():
        return rotations.rotation_table(tenant, FROM, TO, **kwargs)


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


@pytest.mark.parametrize("sort", rotations.SORT_KEYS)
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_sql_order_matches_the_documented_order(app: Flask, scenario: dict, sort: str, direction: str) -> None:
    rows = _table(app, scenario["tenant"], sort=sort, direction=direction)
    assert rows == rotations.sort_rows(rows, sort, direction)


def test_unknown_sort_key_falls_back_to_the_default(app: Flask, scenario: dict) -> None:
    rows = _table(app, scenario["tenant"], sort="name; DROP TABLE agents")
    assert rows == _table(app, scenario["tenant"])


def test_is_one_statement(app: Flask, scenario: dict) -> None:
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    with app.app_context():
        engine = app.extensions["sqlalchemy"].engine
        sa.event.listen(engine, "before_cursor_execute", record)
        try:
            rotations.rotation_table(scenario["tenant"], FROM, TO)
        finally:
            sa.event.remove(engine, "before_cursor_execute", record)
    assert len(seen) == 1


def test_parse_agent_id_rejects_non_uuids() -> None:
    with pytest.raises(rotations.InvalidAgentId):
        rotations.parse_agent_id("not-a-uuid")
