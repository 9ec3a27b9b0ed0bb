"""The gallery's mock tenants: generated usage, rolled up and read by the plugin's real code.

Each state of the gallery is one tenant with agents and ``usage_events``
generated from a fixed seed, in an in-memory SQLite database of its own: the
host tables as the host contract describes them (:mod:`.schema`), the plugin's
tables made by the plugin's own migrations, the usage rolled up by the real
aggregation (:mod:`.aggregation`) and read by the real service (uncached). So
the gallery shows the product's numbers: its rounding, its stale flags, its
sort orders; they cannot drift from the tab's.

A state is built on first use and kept for the life of the process (the data
is fixed). Its database is one connection shared by the threads of a dev
server, so reads of one state take turns (``lock``).
"""

from __future__ import annotations

import random
import threading
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.pool import StaticPool

from . import schema_migrations
from .aggregation import run_aggregation
from .call_flush import BucketKey, apply_batch
from .metrics import build_metrics
from .params import ENDPOINTS
from .schema import Tables, build_tables
from .service import AnalyticsService

#: A fixed "today" so every render of the gallery is identical; presets end the day before.
MOCK_TODAY = date(2026, 4, 1)
MOCK_TENANT = uuid.UUID("00000000-0000-4000-8000-000000000001")
PRESET_DAYS = (7, 30, 90)

#: Agent names that must come out as text, never as markup or script.
HOSTILE_NAMES = (
    "<img src=x onerror=alert(1)>",
    "</script><script>alert(1)</script>",
    "\"'><b>bold</b>&amp;",
    "{{ 7*7 }} ${7*7}",
    "<svg onload=alert(1)>",
)

#: One generated usage_events row: (agent id, day, metric type, count).
UsageRow = tuple[uuid.UUID, date, str, int]


@dataclass(frozen=True)
class Scenario:
    """What a state shows: its agents' names over its last ``days`` complete days."""

    name: str
    title: str
    description: str
    names: tuple[str, ...]
    days: int
    seed: int

    @property
    def period(self) -> tuple[date, date]:
        last = MOCK_TODAY - timedelta(days=1)
        return last - timedelta(days=self.days - 1), last

    @property
    def query(self) -> dict[str, str]:
        """The tab's query string that shows exactly this state's days."""
        if self.days in PRESET_DAYS:
            return {"range": str(self.days)}
        start, end = self.period
        return {"range": "custom", "from": start.isoformat(), "to": end.isoformat()}


@dataclass
class MockTenant:
    """One built state: the generated rows and the real service over them."""

    scenario: Scenario
    agents: list[tuple[uuid.UUID, str]]
    usage: list[UsageRow]
    service: AnalyticsService
    tenant_id: uuid.UUID = MOCK_TENANT
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def title(self) -> str:
        return self.scenario.title

    @property
    def description(self) -> str:
        return self.scenario.description

    @property
    def period(self) -> tuple[date, date]:
        return self.scenario.period

    @property
    def query(self) -> dict[str, str]:
        return self.scenario.query


def _numbered(kinds: list[str], count: int) -> tuple[str, ...]:
    return tuple(f"{kinds[i % len(kinds)]}-{i:02d}" for i in range(count))


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "typical",
            "Typical tenant",
            "24 agents over 30 days.",
            _numbered(["billing-bot", "support-agent", "crawler", "etl-runner"], 24),
            30,
            seed=1,
        ),
        Scenario("empty", "New tenant", "No activity yet: every panel shows its empty state.", (), 30, seed=2),
        Scenario("one-agent", "One agent", "A single agent over 30 days.", ("solo-agent",), 30, seed=3),
        Scenario(
            "agents-500",
            "500 agents",
            "500 agents over 90 days: the heatmap's largest case.",
            tuple(f"agent-{i:03d}" for i in range(500)),
            90,
            seed=4,
        ),
        Scenario(
            "long-names",
            "Very long names",
            "Names that must wrap or truncate.",
            (
                "a-very-long-agent-name-that-keeps-going-" + "x" * 80,
                "Customer Support Escalation Triage Agent For The European Region (Production, Blue/Green Slot B)",
                "ümlaut-ağent-名前-エージェント-" + "ü" * 30,
                "short",
            ),
            30,
            seed=5,
        ),
        Scenario(
            "html-names", "Names full of HTML", "Agent names that must render as text.", HOSTILE_NAMES, 14, seed=6
        ),
    )
}


def generate(scenario: Scenario) -> tuple[list[tuple[uuid.UUID, str]], list[UsageRow]]:
    """The scenario's agents and usage rows: busier agents first, quieter weekends, some idle days."""
    rng = random.Random(scenario.seed)
    last = MOCK_TODAY - timedelta(days=1)
    dates = [last - timedelta(days=scenario.days - 1 - i) for i in range(scenario.days)]
    agents: list[tuple[uuid.UUID, str]] = []
    usage: list[UsageRow] = []
    for rank, name in enumerate(scenario.names):
        agent_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        agents.append((agent_id, name))
        scale = max(1.0, 400.0 / (1 + rank * 0.35))
        rotate_every = rng.choice((1, 3, 7, 14, 30, 45, 0))
        for i, day in enumerate(dates):
            if rng.random() < 0.12:
                continue  # a quiet day
            weekday_factor = 0.45 if day.weekday() >= 5 else 1.0
            calls = int(scale * weekday_factor * rng.uniform(0.5, 1.5)) + 1
            tokens = max(0, calls // 25 + rng.randint(-1, 2))
            failed = int(tokens * rng.uniform(0, 0.15))
            rotated = 1 if rotate_every and (i + rank) % rotate_every == 0 else 0
            for metric, count in (
                ("api_calls", calls),
                ("token_issuances", tokens),
                ("token_failures", failed),
                ("credential_rotations", rotated),
            ):
                if count:
                    usage.append((agent_id, day, metric, count))
    return agents, usage


#: The mock host's API: (method, route template, relative weight, 4xx share, 5xx share).
MOCK_ENDPOINTS = (
    ("GET", "/api/agents/<uuid:agent_id>", 10.0, 0.01, 0.001),
    ("POST", "/oauth/token", 6.0, 0.03, 0.002),
    ("GET", "/api/agents/<uuid:agent_id>/credentials", 3.0, 0.02, 0.0),
    ("POST", "/api/agents/<uuid:agent_id>/credentials/rotate", 0.4, 0.05, 0.01),
    ("GET", "/api/usage", 2.0, 0.0, 0.0),
    ("DELETE", "/api/agents/<uuid:agent_id>", 0.1, 0.1, 0.0),
    ("GET", "<unmatched>", 0.3, 1.0, 0.0),
)
#: Agents whose calls are generated (the 500-agent state stays quick to build).
CALL_PATTERN_AGENTS = 40


def generate_calls(scenario: Scenario, agents: list[tuple[uuid.UUID, str]]) -> dict[BucketKey, list[float]]:
    """Per-endpoint call counts like the request hook's: a few busy endpoints, and a 5xx burst on one.

    The token endpoint fails with 5xx for three days in the middle of the period.
    """
    rng = random.Random(scenario.seed * 7919)
    last = MOCK_TODAY - timedelta(days=1)
    dates = [last - timedelta(days=scenario.days - 1 - i) for i in range(scenario.days)]
    burst = set(dates[len(dates) // 2 : len(dates) // 2 + 3])
    buckets: dict[BucketKey, list[float]] = {}
    for rank, (agent_id, _) in enumerate(agents[:CALL_PATTERN_AGENTS]):
        scale = max(2.0, 120.0 / (1 + rank * 0.5))
        for day in dates:
            if rng.random() < 0.1:
                continue
            for method, route, weight, client_share, server_share in MOCK_ENDPOINTS:
                calls = int(scale * weight * rng.uniform(0.3, 1.2) / 10)
                if calls <= 0:
                    continue
                if route == "/oauth/token" and day in burst:
                    server_share = 0.35
                client = int(round(calls * client_share * rng.uniform(0.5, 1.5)))
                server = int(round(calls * server_share * rng.uniform(0.5, 1.5)))
                client, server = min(client, calls), min(server, calls - min(client, calls))
                latency = 40.0 if route == "/oauth/token" else 8.0
                for status, count in (("2xx", calls - client - server), ("4xx", client), ("5xx", server)):
                    if count > 0:
                        key: BucketKey = (MOCK_TENANT, agent_id, day, method, route, status)
                        buckets[key] = [count, round(count * latency * rng.uniform(0.6, 1.6), 1)]
    return buckets


def _database(tables: Tables) -> sa.Engine:
    """A fresh in-memory SQLite with the host tables and the plugin's migrated ones."""
    engine = sa.create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    with engine.begin() as conn:
        for host_table in (tables.tenants, tables.agents, tables.usage_events):
            host_table.create(conn)
        # A host's usual index for reading one day, so the roll-up below stays quick.
        events = tables.usage_events
        columns = (events.c.date, events.c.tenant_id, events.c.metric_type, events.c.agent_id)
        sa.Index("ix_gallery_usage_day", *columns).create(conn)
        schema_migrations.upgrade_connection(conn)
        # Rolling up 90 days of 500 agents at once on SQLite: the roll-up's
        # per-day DELETE would otherwise scan every aggregate row once a day.
        sa.Index("ix_gallery_aggregates_day", tables.aggregates.c.date).create(conn)
    return engine


def build(scenario: Scenario) -> MockTenant:
    """Generate the scenario's usage, store it, roll it up, and put the real service over it."""
    cfg = current_app.config
    tables = build_tables(
        cfg["ANALYTICS_TENANTS_TABLE"], cfg["ANALYTICS_AGENTS_TABLE"], cfg["ANALYTICS_USAGE_EVENTS_TABLE"]
    )
    engine = _database(tables)
    agents, usage = generate(scenario)
    rows: dict[str, list[dict[str, Any]]] = {
        "tenants": [{"id": MOCK_TENANT, "tier": "pro"}],
        "agents": [{"id": a, "tenant_id": MOCK_TENANT, "name": n} for a, n in agents],
        "usage": [
            {"tenant_id": MOCK_TENANT, "agent_id": a, "date": d, "metric_type": m, "count": c} for a, d, m, c in usage
        ],
    }
    with engine.begin() as conn:
        conn.execute(tables.tenants.insert(), rows["tenants"])
        if agents:
            conn.execute(tables.agents.insert(), rows["agents"])
        if usage:
            conn.execute(tables.usage_events.insert(), rows["usage"])
    # Every day from the first with usage, as the nightly run leaves them: a day without usage is a
    # day aggregated too, so the mock's dataCompleteThrough is the one a real tenant would see.
    used = sorted({d for _, d, _, _ in usage})
    last = max([*used, MOCK_TODAY - timedelta(days=1)]) if used else None
    days = [used[0] + timedelta(days=i) for i in range((last - used[0]).days + 1)] if used and last else []
    report = run_aggregation(engine, tables, days=days, today=MOCK_TODAY, window=0)
    if not report.ok:
        raise RuntimeError(f"The gallery's mock roll-up failed: {report.failed}")
    # Call patterns go in the way the request hook's flush adds them.
    apply_batch(engine, tables, f"gallery:{scenario.name}", generate_calls(scenario, agents))
    service = AnalyticsService(engine, tables, build_metrics(ENDPOINTS), cache=None, ttl={})
    return MockTenant(scenario, agents, usage, service)


_built: dict[str, MockTenant] = {}
_building = threading.Lock()


def mock_tenant(name: str) -> MockTenant:
    """The named state, built once per process."""
    with _building:
        if name not in _built:
            _built[name] = build(SCENARIOS[name])
        return _built[name]
