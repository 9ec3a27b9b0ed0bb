"""Deterministic demo data: three tenants, their agents and 120 days of usage.

The generator is a ``random.Random`` with a fixed seed, and every id is drawn
from it, so a rebuild yields the same rows. Usage follows what a real
deployment looks like: a weekday rhythm, bursts, idle agents, rotations every
few weeks (some agents never rotate), about 1 % failed token requests,
tenant-wide rows (management API calls, no agent) and one agent that is
deleted after months of history, whose usage the database folds into the
tenant-wide bucket. For the analytics insights, it also has idle agents
(dormant), agents that never rotate their credentials (overdue) and one day
of refused token requests for one agent (a failure spike). With the
analytics plugin loaded, the agents' calls are also counted per endpoint
(the plugin's call patterns), as its request hook would have: the same token
issuances and failures, the agent API's calls, an agent still calling a
retired path, and a two-day outage of the token endpoint at acme.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from .extensions import db
from .models import Agent, AgentCredential, Tenant, UsageEvent, User
from .security import CLIENT_ID_PREFIX, hash_secret

SEED = 20261125
HISTORY_DAYS = 120
XSS_PROBE_NAME = "<img src=x onerror=alert(1)>"
LONG_NAME = (
    "quarterly-revenue-reconciliation-agent-for-the-emea-finance-operations-team-"
    "which-matches-bank-statements-against-open-invoices-and-flags-discrepancies-"
    "for-human-review-before-the-books-close"
)
DELETED_AGENT_NAME = "pilot-web-scraper"
#: Names no demo should show, for tests of escaping and layout (``--with-probe-agents``).
PROBE_AGENT_NAMES = (XSS_PROBE_NAME, LONG_NAME)
PROBE_TENANT = "acme"


@dataclass(frozen=True)
class TenantPlan:
    slug: str
    name: str
    tier: str
    agents: tuple[str, ...]
    idle: tuple[str, ...] = ()


DEMO_TENANTS = (
    TenantPlan(
        "acme",
        "Acme Corp",
        "pro",
        (
            "support-triage",
            "invoice-reader",
            "crm-sync",
            "expense-auditor",
            "revenue-reconciler",
            "lead-scorer",
            "slack-notifier",
            "contract-summarizer",
            "legacy-ftp-bridge",
            DELETED_AGENT_NAME,
        ),
        idle=("legacy-ftp-bridge",),
    ),
    TenantPlan(
        "globex",
        "Globex Corporation",
        "enterprise",
        (
            "fraud-watch",
            "kyc-verifier",
            "ledger-auditor",
            "payments-router",
            "risk-scorer",
            "report-builder",
            "email-classifier",
            "doc-ocr",
            "forecast-bot",
            "chat-concierge",
            "archive-janitor",
        ),
        idle=("archive-janitor",),
    ),
    TenantPlan(
        "initech",
        "Initech",
        "free",
        ("tps-report-bot", "printer-monitor", "stapler-tracker", "budget-helper"),
        idle=("stapler-tracker",),
    ),
)

WEEKDAY_FACTOR = (1.0, 1.05, 1.1, 1.0, 0.9, 0.35, 0.25)  # Monday .. Sunday


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    tenant: str
    tier: str


@dataclass
class SeedResult:
    created: bool
    logins: list[DemoLogin]
    sample_client_id: str
    sample_client_secret: str
    days: list[dt.date] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def demo_email(slug: str) -> str:
    return f"admin@{slug}.example"


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _at(day: dt.date, rng: random.Random) -> dt.datetime:
    """A UTC moment during office hours of ``day``."""
    seconds = rng.randrange(8 * 3600, 18 * 3600)
    return dt.datetime.combine(day, dt.time(), dt.UTC) + dt.timedelta(seconds=seconds)


@dataclass
class _Batch:
    """Rows collected in memory and written with one executemany per table."""

    tenants: list[dict] = field(default_factory=list)
    users: list[dict] = field(default_factory=list)
    agents: list[dict] = field(default_factory=list)
    credentials: list[dict] = field(default_factory=list)
    usage: list[dict] = field(default_factory=list)


def _usage(batch: _Batch, tenant_id, agent_id, day, metric, count, rng) -> None:
    if count > 0:
        batch.usage.append(
            {
                "id": _uuid(rng),
                "tenant_id": tenant_id,
                "agent_id": agent_id,
                "date": day,
                "metric_type": metric,
                "count": count,
            }
        )


def _plan_agent(
    batch: _Batch,
    rng: random.Random,
    tenant_id: uuid.UUID,
    name: str,
    days: list[dt.date],
    *,
    idle: bool,
) -> tuple[str, str]:
    """One agent, its credentials and its usage; returns (client_id, live secret)."""
    agent_id = _uuid(rng)
    client_id = CLIENT_ID_PREFIX + f"{rng.getrandbits(96):024x}"
    # Most agents predate the window; some were registered during it.
    first = 0 if rng.random() < 0.7 else rng.randrange(10, 60)
    last = len(days) - 1
    if idle:
        last = rng.randrange(first, first + 25) if rng.random() < 0.5 else -1
    if name == DELETED_AGENT_NAME:
        last = 80
    base = rng.choice((40, 120, 300, 800, 2000)) * rng.uniform(0.7, 1.3)
    growth = rng.uniform(-0.002, 0.006)
    period = rng.choice((14, 21, 28, 35, None, None))  # None: never rotated
    offset = rng.randrange(0, 14)

    created = days[first] - dt.timedelta(days=rng.randrange(1, 60) if first == 0 else 0)
    batch.agents.append(
        {
            "id": agent_id,
            "tenant_id": tenant_id,
            "name": name,
            "client_id": client_id,
            "created_at": _at(created, rng),
        }
    )

    secrets_issued = []
    cred_start = batch.agents[-1]["created_at"]
    for index, day in enumerate(days):
        if index < first or index > last:
            continue
        burst = rng.uniform(3, 6) if rng.random() < 0.04 else 1.0
        level = base * WEEKDAY_FACTOR[day.weekday()] * (1 + growth * index) * burst
        calls = max(0, round(level * rng.uniform(0.8, 1.2)))
        issuances = max(1, round(calls / rng.uniform(20, 60))) if calls else 0
        expected_failures = issuances * 0.01
        failures = int(expected_failures) + (rng.random() < expected_failures % 1)
        if name == FAILURE_SPIKE_AGENT and index == len(days) - FAILURE_SPIKE_DAYS_AGO:
            failures += FAILURE_SPIKE_COUNT
        _usage(batch, tenant_id, agent_id, day, "api_calls", calls, rng)
        _usage(batch, tenant_id, agent_id, day, "token_issuances", issuances, rng)
        _usage(batch, tenant_id, agent_id, day, "token_failures", failures, rng)
        if period and index > offset and (index - offset) % period == 0:
            _usage(batch, tenant_id, agent_id, day, "credential_rotations", 1, rng)
            rotated_at = _at(day, rng)
            secrets_issued.append((cred_start, rotated_at))
            cred_start = rotated_at
    secrets_issued.append((cred_start, None))

    secret = ""
    for created_at, revoked_at in secrets_issued:
        secret = f"demo-{rng.getrandbits(128):032x}"
        batch.credentials.append(
            {
                "id": _uuid(rng),
                "agent_id": agent_id,
                "secret_hash": hash_secret(secret),
                "created_at": created_at,
                "revoked_at": revoked_at,
            }
        )
    return client_id, secret  # the live secret is the last one issued


def _plan_tenant_wide(batch: _Batch, rng: random.Random, tenant_id, days, scale: int) -> None:
    """Management-API calls made with tenant tokens: usage without an agent."""
    for day in days:
        if day.weekday() < 5 and rng.random() < 0.8:
            _usage(batch, tenant_id, None, day, "api_calls", rng.randrange(scale, scale * 4), rng)


def demo_tenants_present() -> bool:
    slugs = [plan.slug for plan in DEMO_TENANTS]
    found = db.session.scalar(sa.select(sa.func.count()).where(Tenant.slug.in_(slugs)))
    return found == len(slugs)


def remove_demo_tenants() -> None:
    """Delete the demo tenants; everything they own goes with them by cascade."""
    db.session.execute(sa.delete(Tenant).where(Tenant.slug.in_([p.slug for p in DEMO_TENANTS])))


def table_counts() -> dict[str, int]:
    """Row counts of the host tables, for reports and idempotence checks."""
    counts = {}
    for model in (Tenant, User, Agent, AgentCredential, UsageEvent):
        counts[model.__tablename__] = db.session.scalar(
            sa.select(sa.func.count()).select_from(model)
        )
    counts["usage_total"] = int(db.session.scalar(sa.select(sa.func.sum(UsageEvent.count))) or 0)
    return counts


def seed_demo(
    password: str,
    *,
    today: dt.date | None = None,
    reset: bool = False,
    probe_agents: bool = False,
) -> SeedResult:
    """Create the demo tenants unless they are all there (or rebuild them with ``reset``).

    History ends yesterday (UTC): today is not complete and would not be
    aggregated before tomorrow anyway. ``probe_agents`` gives acme two more
    agents, named like markup and 190 characters long, with usage like the others.
    """
    rng = random.Random(SEED)
    today = today or dt.datetime.now(dt.UTC).date()
    days = [today - dt.timedelta(days=HISTORY_DAYS - i) for i in range(HISTORY_DAYS)]
    logins = [DemoLogin(demo_email(p.slug), password, p.slug, p.tier) for p in DEMO_TENANTS]

    batch = _Batch()
    sample: tuple[str, str] = ("", "")
    deleted_agent_id = None
    for plan in DEMO_TENANTS:
        tenant_id = _uuid(rng)
        batch.tenants.append(
            {
                "id": tenant_id,
                "slug": plan.slug,
                "name": plan.name,
                "tier": plan.tier,
                "created_at": _at(days[0] - dt.timedelta(days=90), rng),
            }
        )
        _plan_tenant_wide(batch, rng, tenant_id, days, scale=25)
        names = plan.agents
        if probe_agents and plan.slug == PROBE_TENANT:
            names = (*names, *PROBE_AGENT_NAMES)
        for name in names:
            client = _plan_agent(batch, rng, tenant_id, name, days, idle=name in plan.idle)
            if not sample[0]:
                sample = client
            if name == DELETED_AGENT_NAME:
                deleted_agent_id = batch.agents[-1]["id"]

    if demo_tenants_present() and not reset:
        return SeedResult(False, logins, *sample, days=days, counts=table_counts())

    remove_demo_tenants()
    for plan in DEMO_TENANTS:
        batch.users.append(
            {
                "id": _uuid(rng),
                "tenant_id": next(t["id"] for t in batch.tenants if t["slug"] == plan.slug),
                "email": demo_email(plan.slug),
                "password_hash": generate_password_hash(password),
            }
        )
    for model, rows in (
        (Tenant, batch.tenants),
        (User, batch.users),
        (Agent, batch.agents),
        (AgentCredential, batch.credentials),
        (UsageEvent, batch.usage),
    ):
        db.session.execute(sa.insert(model.__table__), rows)
    # Deleted the way the dashboard deletes: the database folds its usage.
    db.session.execute(sa.delete(Agent).where(Agent.id == deleted_agent_id))
    db.session.commit()
    _seed_call_patterns(batch, days)
    return SeedResult(True, logins, *sample, days=days, counts=table_counts())


#: The host's agent-facing routes, as Flask's URL rules name them.
ROUTE_ME = "/api/v1/agents/me"
ROUTE_CREDENTIALS = "/api/v1/agents/me/credentials"
ROUTE_TOKEN = "/oauth/token"  # noqa: S105 (a URL rule, not a secret)
UNMATCHED = "<unmatched>"
#: The agent that keeps calling a path the API retired (404s every day).
RETIRED_PATH_AGENT = "crm-sync"
#: Days before the end of the history when the token endpoint failed at acme.
OUTAGE_DAYS_AGO = (9, 8)
#: The agent whose token requests were refused for a day (a deploy shipped a revoked secret):
#: the analytics insights' failure spike. Added without drawing from the generator, so every
#: other row stays as it was.
FAILURE_SPIKE_AGENT = "lead-scorer"
FAILURE_SPIKE_DAYS_AGO = 3
FAILURE_SPIKE_COUNT = 40


def _seed_call_patterns(batch: _Batch, days: list[dt.date]) -> None:
    """Per-endpoint call counts derived from the seeded usage, added through the plugin's flush."""
    from flask import current_app

    analytics = current_app.extensions.get("agentidp_analytics")
    if analytics is None or getattr(analytics, "tables", None) is None:
        return
    from agentidp_analytics_plugin.call_flush import apply_batch

    rng = random.Random(SEED + 1)  # its own stream: the host rows above stay as they were
    names = {a["id"]: a["name"] for a in batch.agents}
    acme = next(t["id"] for t in batch.tenants if t["slug"] == "acme")
    outage = {days[-n] for n in OUTAGE_DAYS_AGO}
    buckets: dict = {}

    def add(tenant, agent, day, method, route, status, calls, latency_ms):
        if calls > 0:
            key = (tenant, agent, day, method, route, status)
            counts = buckets.setdefault(key, [0, 0.0])
            counts[0] += calls
            counts[1] += round(calls * latency_ms * rng.uniform(0.7, 1.4), 1)

    for row in batch.usage:
        tenant, agent, day, metric, count = (
            row["tenant_id"], row["agent_id"], row["date"], row["metric_type"], row["count"]
        )
        if agent is None:
            continue
        if metric == "api_calls":
            errors = int(count * rng.uniform(0, 0.004))
            reads = int(count * rng.uniform(0.02, 0.06))
            add(tenant, agent, day, "GET", ROUTE_ME, "2xx", count - reads - errors, 6.0)
            add(tenant, agent, day, "GET", ROUTE_ME, "5xx", errors, 30.0)
            add(tenant, agent, day, "GET", ROUTE_CREDENTIALS, "2xx", reads, 9.0)
            if names.get(agent) == RETIRED_PATH_AGENT:
                retired = int(count * rng.uniform(0.1, 0.2))
                add(tenant, agent, day, "GET", UNMATCHED, "4xx", retired, 1.5)
        elif metric == "token_issuances":
            add(tenant, agent, day, "POST", ROUTE_TOKEN, "2xx", count, 45.0)
            if tenant == acme and day in outage:
                failed = count * rng.randint(2, 4)
                add(tenant, agent, day, "POST", ROUTE_TOKEN, "5xx", failed, 2000.0)
        elif metric == "token_failures":
            add(tenant, agent, day, "POST", ROUTE_TOKEN, "4xx", count, 40.0)
    apply_batch(analytics.engine, analytics.tables, f"demo-seed:{uuid.uuid4().hex}", buckets)
