"""The partitioned layout (PostgreSQL) and retention: nothing lost in the move, months made ahead, pruned reads."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from agentidp_analytics_plugin import partitions, retention
from agentidp_analytics_plugin.aggregation import utc_today
from agentidp_analytics_plugin.state import get_state
from host_app import HostData

TABLE = "analytics_daily_aggregates"


def days_ago(n: int) -> date:
    return utc_today() - timedelta(days=n)


class World:
    """One pro tenant with two agents and 100 days of usage, rolled up on the plain layout."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.host = HostData(app)
        self.tenant = self.host.tenant()
        self.agents = [self.host.agent(self.tenant, name=f"a{i}") for i in range(2)]
        rows = [
            (self.tenant, agent, days_ago(n), metric, n + i + 1)
            for n in range(1, 101)
            for i, agent in enumerate([*self.agents, None])
            for metric in ("api_calls", "token_issuances")
        ]
        self.host.events(rows)
        self.token = self.host.token(self.tenant)
        self.aggregate(*range(1, 101))

    def aggregate(self, *days_back: int) -> None:
        with self.app.app_context():
            report = get_state(self.app).aggregate(days=[days_ago(n) for n in days_back])
        assert report.ok, report.failed

    def answer(self, endpoint: str, **params: str) -> dict:
        query = {"from": days_ago(90).isoformat(), "to": days_ago(1).isoformat(), **params}
        response = self.app.test_client().get(
            f"/analytics/{endpoint}", query_string=query, headers={"Authorization": f"Bearer {self.token}"}
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    def sql(self, statement: str, **params: Any) -> Any:
        return self.host.execute(statement, **params)

    def partition(self) -> None:
        result = self.app.test_cli_runner().invoke(args=["analytics", "db", "partition"])
        assert result.exit_code == 0, result.output

    def forget_cached_answers(self) -> None:
        get_state(self.app).cache.clear()


@pytest.fixture
def world(pg_app: Flask) -> World:
    if partitions_already(pg_app):
        pytest.skip("this module converts the plain layout itself; the partitioned env starts partitioned")
    return World(pg_app)


def partitions_already(app: Flask) -> bool:
    with app.app_context(), get_state(app).engine.connect() as conn:
        return partitions.is_partitioned(conn)


def relkind(world: World) -> str:
    return world.sql(f"SELECT relkind FROM pg_class WHERE oid = to_regclass('{TABLE}')").scalar_one()


def test_partitioning_keeps_every_row_and_every_answer(world):
    before_rows = world.sql(f"SELECT count(*), sum(count) FROM {TABLE}").one()
    answers = {e: world.answer(e) for e in ("usage-summary", "agent-activity", "token-trends")}

    world.partition()
    world.forget_cached_answers()

    assert relkind(world) == "p"
    assert world.sql(f"SELECT count(*), sum(count) FROM {TABLE}").one() == before_rows
    for endpoint, answer in answers.items():
        assert world.answer(endpoint) == answer


def test_partitioning_makes_a_partition_per_month_ahead_and_a_default_one(world):
    world.partition()

    with world.app.app_context(), get_state(world.app).engine.connect() as conn:
        months = partitions.months(conn)
    first, last = partitions.month_of(days_ago(100)), partitions.month_of(utc_today())
    assert months[0] == first
    assert months[-1] == partitions.add_months(last, 3)  # ANALYTICS_PARTITIONS_AHEAD
    assert len(months) == len(set(months)) == (months[-1].year - first.year) * 12 + months[-1].month - first.month + 1
    assert world.sql(f"SELECT to_regclass('{partitions.DEFAULT_PARTITION}') IS NOT NULL").scalar_one()


def test_partitioning_twice_changes_nothing(world):
    world.partition()
    result = world.app.test_cli_runner().invoke(args=["analytics", "db", "partition"])

    assert result.exit_code == 0
    assert "already partitioned" in result.output


def test_a_failed_partitioning_leaves_the_plain_table_as_it_was(world):
    rows = world.sql(f"SELECT count(*) FROM {TABLE}").scalar_one()
    world.sql(f"CREATE TABLE {partitions.DEFAULT_PARTITION} (x int)")  # the name the move needs is taken

    result = world.app.test_cli_runner().invoke(args=["analytics", "db", "partition"])

    assert result.exit_code != 0
    assert relkind(world) == "r"
    assert world.sql(f"SELECT count(*) FROM {TABLE}").scalar_one() == rows
    world.sql(f"DROP TABLE {partitions.DEFAULT_PARTITION}")
    world.aggregate(1)  # the upsert still finds its constraint under its name


def test_aggregation_and_agent_deletion_work_on_the_partitioned_layout(world):
    world.partition()
    total = world.sql(f"SELECT sum(count) FROM {TABLE}").scalar_one()

    world.host.delete_agent(world.agents[0])  # the host's trigger folds the agent into tenant-wide rows
    world.host.events([(world.tenant, world.agents[1], days_ago(2), "api_calls", 1000)])
    world.aggregate(1, 2, 3)

    assert world.sql(f"SELECT sum(count) FROM {TABLE}").scalar_one() == total + 1000
    assert world.sql(f"SELECT count(*) FROM {TABLE} WHERE agent_id = :a", a=world.agents[0]).scalar_one() == 0


def test_a_day_whose_month_has_no_partition_waits_in_the_default_and_moves_when_it_is_made(world):
    world.partition()
    month = partitions.month_of(days_ago(1))
    name = partitions.partition_name(month)
    world.sql(f'DROP TABLE "{name}"')  # the month's partition is missing
    busy = threading.Event()
    release = threading.Event()

    def hold_the_table() -> None:  # a long read: partition DDL must not queue behind it
        engine = sa.create_engine(world.app.config["SQLALCHEMY_DATABASE_URI"])
        with engine.connect() as conn, conn.begin():
            conn.execute(sa.text(f"LOCK TABLE {TABLE} IN ACCESS SHARE MODE"))
            busy.set()
            release.wait(30)
        engine.dispose()

    reader = threading.Thread(target=hold_the_table)
    reader.start()
    busy.wait(10)
    try:
        world.aggregate(1)  # cannot create the partition now: the rows go to the default one
    finally:
        release.set()
        reader.join()
    in_default = world.sql(
        f"SELECT count(*) FROM {partitions.DEFAULT_PARTITION} WHERE date = :d", d=days_ago(1)
    ).scalar_one()
    expected = world.sql(f"SELECT count(*) FROM {TABLE} WHERE date = :d", d=days_ago(1)).scalar_one()
    assert in_default == expected > 0

    world.aggregate(2)  # the next run makes the month and moves its rows out of the default

    assert world.sql(f"SELECT to_regclass('{name}') IS NOT NULL").scalar_one()
    assert world.sql(f"SELECT count(*) FROM {partitions.DEFAULT_PARTITION}").scalar_one() == 0
    assert world.sql(f'SELECT count(*) FROM "{name}" WHERE date = :d', d=days_ago(1)).scalar_one() == expected


def _plan_partitions(world: World, statement: str, parameters: Any) -> set[str]:
    engine = get_state(world.app).engine
    with world.app.app_context(), engine.connect() as conn:
        cursor = conn.connection.cursor()
        cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
        plan = cursor.fetchone()[0]
    found: set[str] = set()

    def walk(node: dict) -> None:
        if node.get("Relation Name", "").startswith(TABLE):
            found.add(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return found


def test_reads_of_a_period_touch_only_the_partitions_of_its_months(world):
    world.partition()
    world.forget_cached_answers()
    seen: list[tuple[str, Any]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if TABLE in statement and statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((statement, parameters))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", capture)  # every engine: reads have their own
    period = {"from": days_ago(10).isoformat(), "to": days_ago(3).isoformat()}
    try:
        world.answer("usage-summary", **period)
        world.answer("token-trends", **period)
        world.answer("agent-activity", **period)
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", capture)

    allowed = {partitions.partition_name(partitions.month_of(days_ago(n))) for n in range(3, 11)}
    assert seen
    for statement, parameters in seen:
        touched = _plan_partitions(world, statement, parameters)
        assert touched <= allowed | {TABLE}, (touched, statement)


def test_retention_drops_whole_old_months_and_deletes_the_days_before_the_cut_off(world):
    world.partition()
    cutoff = days_ago(40)
    with world.app.app_context(), get_state(world.app).engine.connect() as conn:
        months_before = partitions.months(conn)
        dropped, rows = retention.apply(conn, get_state(world.app).tables, cutoff)

    assert dropped == [m for m in months_before if partitions.next_month(m) <= cutoff]
    assert dropped  # 100 days back holds at least two whole months before the cut-off
    assert rows > 0  # the days of the cut-off's month before it
    assert world.sql(f"SELECT min(date) FROM {TABLE}").scalar_one() == cutoff
    ledger = world.sql("SELECT count(*) FROM analytics_aggregated_days").scalar_one()
    assert ledger == 100  # the days stay aggregated: catch-up never redoes them


def test_the_job_applies_retention_after_its_run(pg_app):
    pg_app.config["ANALYTICS_RETENTION_DAYS"] = 30
    world = World(pg_app)  # plain layout; the job's run ends with retention

    assert world.sql(f"SELECT min(date) FROM {TABLE}").scalar_one() == days_ago(30)


def test_retention_deletes_in_batches_on_the_plain_layout(make_app):
    app = make_app()
    world = World(app)
    with app.app_context(), get_state(app).engine.connect() as conn:
        rows = retention.delete_before(conn, get_state(app).tables.aggregates, days_ago(50), batch=7)

    assert rows == 50 * 3 * 2  # days 51..100, three agent slots, two metrics
    assert world.sql(f"SELECT min(date) FROM {TABLE}").scalar_one() in (days_ago(50), days_ago(50).isoformat())


@pytest.mark.parametrize("value", [0, 3, "-1", "soon"])
def test_a_retention_shorter_than_a_week_or_not_a_number_is_refused(make_app, value):
    with pytest.raises(ValueError, match="ANALYTICS_RETENTION_DAYS"):
        make_app(migrate=False, ANALYTICS_RETENTION_DAYS=value)


def test_retention_removes_old_call_patterns_too(make_app):
    app = make_app()
    host = HostData(app)
    tenant = host.tenant()
    rows = [
        {"tenant_id": tenant, "agent_id": None, "date": days_ago(n), "method": "GET", "route": "/agents",
         "status_class": "2xx", "calls": 3, "latency_ms_sum": 1.5, "updated_at": datetime.now(UTC)}
        for n in (5, 60, 61)
    ]
    with app.app_context(), get_state(app).engine.begin() as conn:
        conn.execute(sa.insert(get_state(app).tables.call_patterns), rows)
    with app.app_context(), get_state(app).engine.connect() as conn:
        retention.apply(conn, get_state(app).tables, days_ago(30))

    left = host.execute("SELECT count(*) FROM analytics_call_patterns").scalar_one()
    assert left == 1
