"""The analytics service: the spec's ``IAnalyticsService`` in Python.

Three methods answer the three endpoints with plain data (the TypedDicts of
:mod:`.types`); they know nothing of HTTP, so the JSON API and the dashboard
fragments share them, and their cache. Every sum, bucket and distinct count
is computed by the database with GROUP BY over ``analytics_daily_aggregates``;
Python only arranges the few result rows into the response shape.

Caching lives here, not in the views: a request first looks up
``analytics:{tenantId}:{endpoint}:{queryHash}``; on a miss the queries run
(timed into ``agentidp_analytics_query_duration_ms``) and the answer is
stored for the endpoint's TTL. Failed lookups (agent not found) are not cached.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from . import errors
from .aggregation import complete_through
from .caching import AnalyticsCache, cache_key
from .errors import AnalyticsError
from .metrics import AnalyticsMetrics
from .params import AGENT_ACTIVITY, TOKEN_TRENDS, USAGE_SUMMARY
from .schema import Tables
from .types import (
    AgentActivity,
    AgentActivityResponse,
    DailyActivity,
    Summary,
    TokenTrendPoint,
    TokenTrendsResponse,
    UsageSummary,
)

API_CALLS = "api_calls"
TOKEN_ISSUANCES = "token_issuances"
TOKEN_FAILURES = "token_failures"
CREDENTIAL_ROTATIONS = "credential_rotations"

T = TypeVar("T")


def as_date(value: date | str) -> date:
    """SQLite hands some DATE results back as text; normalise to ``date``."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def week_start(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


def round_half_up(total: int, days: int) -> int:
    """``total / days`` rounded half up, in integers (no float surprises on big totals)."""
    return (2 * total + days) // (2 * days)


class AnalyticsService:
    """Usage summary, agent activity and token trends for one tenant and period.

    ``ttl`` maps each endpoint to its cache TTL in seconds. ``cache`` may be
    None (no caching, e.g. for benchmarks of the bare queries).
    """

    def __init__(
        self,
        engine: Engine | Callable[[], Engine],
        tables: Tables,
        metrics: AnalyticsMetrics,
        cache: AnalyticsCache | None,
        ttl: dict[str, int],
    ) -> None:
        self._engine = engine
        self.tables = tables
        self.metrics = metrics
        self.cache = cache
        self.ttl = ttl

    @property
    def engine(self) -> Engine:
        return self._engine() if callable(self._engine) else self._engine

    # -- the spec's interface -------------------------------------------------

    def get_usage_summary(self, tenant_id: uuid.UUID, from_: date, to: date) -> UsageSummary:
        """Totals, active agents, daily average and peak day of ``from_``..``to`` (inclusive)."""
        params = {"from": from_.isoformat(), "to": to.isoformat()}
        return self._cached(
            tenant_id, USAGE_SUMMARY, params, lambda conn: self._usage_summary(conn, tenant_id, from_, to)
        )

    def get_agent_activity(
        self,
        tenant_id: uuid.UUID,
        from_: date,
        to: date,
        agent_id: uuid.UUID | None = None,
        *,
        top: int | None = None,
    ) -> AgentActivityResponse:
        """Per-agent days with activity, busiest agent first; raises AGENT_NOT_FOUND for a foreign agent.

        ``top`` (the tab's first rows; the JSON API lists every agent) keeps
        only the busiest agents and adds ``agentCount``, how many there are.
        """
        params = {
            "from": from_.isoformat(),
            "to": to.isoformat(),
            "agentId": str(agent_id) if agent_id else None,
            "top": top,
        }
        return self._cached(
            tenant_id,
            AGENT_ACTIVITY,
            params,
            lambda conn: self._agent_activity(conn, tenant_id, from_, to, agent_id, top),
        )

    def get_token_trends(
        self, tenant_id: uuid.UUID, from_: date, to: date, granularity: str = "day"
    ) -> TokenTrendsResponse:
        """One point per day or ISO week of the period, zeros included."""
        if granularity not in ("day", "week"):
            raise AnalyticsError(400, errors.INVALID_GRANULARITY, "'granularity' must be 'day' or 'week'.")
        params = {"from": from_.isoformat(), "to": to.isoformat(), "granularity": granularity}
        return self._cached(
            tenant_id, TOKEN_TRENDS, params, lambda conn: self._token_trends(conn, tenant_id, from_, to, granularity)
        )

    def data_complete_through(self) -> date | None:
        """The last day up to which every day is aggregated (uncached)."""
        with self.engine.connect() as conn:
            return self._complete_through(conn)

    # -- caching --------------------------------------------------------------

    def _cached(
        self, tenant_id: uuid.UUID, endpoint: str, params: dict[str, Any], compute: Callable[[Connection], T]
    ) -> T:
        key = cache_key(tenant_id, endpoint, params)
        if self.cache is not None:
            hit = self.cache.get(key, endpoint)
            if hit is not None:
                return hit
        started = time.perf_counter()
        with self.engine.connect() as conn:
            value = compute(conn)
            value["dataCompleteThrough"] = _iso(self._complete_through(conn))  # type: ignore[index]
        self.metrics.query_duration_ms.labels(endpoint=endpoint).observe((time.perf_counter() - started) * 1000)
        if self.cache is not None:
            self.cache.set(key, value, self.ttl[endpoint], endpoint)
        return value

    def _complete_through(self, conn: Connection) -> date | None:
        ledger = self.tables.ledger
        days = [as_date(d) for d in conn.execute(sa.select(ledger.c.date).order_by(ledger.c.date)).scalars()]
        return complete_through(days, date.max)

    # -- queries --------------------------------------------------------------

    def _in_period(self, tenant_id: uuid.UUID, from_: date, to: date, metrics: tuple[str, ...]) -> list[Any]:
        agg = self.tables.aggregates
        return [agg.c.tenant_id == tenant_id, agg.c.date.between(from_, to), agg.c.metric_type.in_(metrics)]

    def _usage_summary(self, conn: Connection, tenant_id: uuid.UUID, from_: date, to: date) -> UsageSummary:
        agg = self.tables.aggregates
        all_metrics = (API_CALLS, TOKEN_ISSUANCES, CREDENTIAL_ROTATIONS, TOKEN_FAILURES)
        # Grouping by agent first, then summing the groups, counts active agents
        # with a hash aggregate over a few thousand groups: COUNT(DISTINCT ...)
        # sorts every row of the period, 4x slower on a large tenant.
        per_agent = (
            sa.select(
                agg.c.agent_id,
                _sum_of(agg, API_CALLS).label("api_calls"),
                _sum_of(agg, TOKEN_ISSUANCES).label("issuances"),
                _sum_of(agg, CREDENTIAL_ROTATIONS).label("rotations"),
                sa.func.sum(agg.c["count"]).label("total"),
            )
            .where(*self._in_period(tenant_id, from_, to, all_metrics))
            .group_by(agg.c.agent_id)
            .subquery("per_agent")
        )
        totals = conn.execute(
            sa.select(
                _total(per_agent.c.api_calls),
                _total(per_agent.c.issuances),
                _total(per_agent.c.rotations),
                _total(_is_active_agent(per_agent)),
            )
        ).one()
        daily = sa.func.sum(agg.c["count"])
        peak = conn.execute(
            sa.select(agg.c.date, daily.label("calls"))
            .where(*self._in_period(tenant_id, from_, to, (API_CALLS,)))
            .group_by(agg.c.date)
            .having(daily > 0)
            .order_by(daily.desc(), agg.c.date)
            .limit(1)
        ).first()
        api_calls, issuances, rotations, active = (int(v or 0) for v in totals)
        days = (to - from_).days + 1
        summary: Summary = {
            "totalApiCalls": api_calls,
            "totalTokenIssuances": issuances,
            "totalCredentialRotations": rotations,
            "activeAgentCount": active,
            "averageDailyApiCalls": round_half_up(api_calls, days),
            "peakDailyApiCalls": int(peak.calls) if peak else 0,
            "peakDate": as_date(peak.date).isoformat() if peak else None,
        }
        return {
            "tenantId": str(tenant_id),
            "period": _period(from_, to),
            "summary": summary,
            "dataCompleteThrough": None,
        }

    def _agent_activity(
        self,
        conn: Connection,
        tenant_id: uuid.UUID,
        from_: date,
        to: date,
        agent_id: uuid.UUID | None,
        top: int | None = None,
    ) -> AgentActivityResponse:
        agg, agents = self.tables.aggregates, self.tables.agents
        agent_name: str | None = None
        if agent_id is not None:
            agent_name = conn.execute(
                sa.select(sa.func.coalesce(agents.c.name, "")).where(
                    agents.c.id == agent_id, agents.c.tenant_id == tenant_id
                )
            ).scalar()
            if agent_name is None:  # unknown and foreign agents get the same answer: nothing leaks
                raise AnalyticsError(404, errors.AGENT_NOT_FOUND, "No agent with this id belongs to your tenant.")

        conditions = [
            *self._in_period(tenant_id, from_, to, (API_CALLS, TOKEN_ISSUANCES, CREDENTIAL_ROTATIONS)),
            agg.c.agent_id.is_not(None),
            agg.c["count"] > 0,
        ]
        if agent_id is not None:
            conditions.append(agg.c.agent_id == agent_id)

        # Rank first: one small GROUP BY agent (a few thousand rows at most)
        # orders the agents, busiest first, then by name. Days are then fetched
        # only for the agents that will be shown, so the tab's top rows of a
        # large tenant do not pay for every agent-day of the period.
        total = sa.func.sum(agg.c["count"])
        name = sa.func.coalesce(agents.c.name, "")
        ranking = conn.execute(
            sa.select(agg.c.agent_id, name.label("name"))
            .select_from(agg.outerjoin(agents, agents.c.id == agg.c.agent_id))
            .where(*conditions)
            .group_by(agg.c.agent_id, agents.c.name)
            .order_by(total.desc(), name, agg.c.agent_id)
        ).all()
        shown = ranking if top is None else ranking[:top]

        daily_of: dict[Any, list[DailyActivity]] = {agent: [] for agent, _ in shown}
        if shown:
            if len(shown) < len(ranking):
                conditions.append(agg.c.agent_id.in_(list(daily_of)))
            rows = conn.execute(
                sa.select(
                    agg.c.agent_id,
                    agg.c.date,
                    _sum_of(agg, API_CALLS),
                    _sum_of(agg, TOKEN_ISSUANCES),
                    _sum_of(agg, CREDENTIAL_ROTATIONS),
                )
                .where(*conditions)
                .group_by(agg.c.agent_id, agg.c.date)
                .order_by(agg.c.agent_id, agg.c.date)
            )
            # Only arranging here, but for every agent-day shown: no per-row
            # attribute lookups or conversions (sums arrive as integers, each
            # date is formatted once).
            iso: dict[Any, str] = {}
            for row_agent, day, calls, issued, rotated in rows:
                label = iso.get(day)
                if label is None:
                    label = iso[day] = as_date(day).isoformat()
                daily_of[row_agent].append(
                    {"date": label, "apiCalls": calls, "tokenIssuances": issued, "credentialRotations": rotated}
                )
        listed: list[AgentActivity] = [
            {"agentId": str(agent), "agentName": agent_name_, "dailyActivity": daily_of[agent]}
            for agent, agent_name_ in shown
        ]
        if agent_id is not None and not listed:  # the filtered agent is listed even when idle
            listed.append({"agentId": str(agent_id), "agentName": agent_name or "", "dailyActivity": []})
        response: AgentActivityResponse = {
            "tenantId": str(tenant_id),
            "period": _period(from_, to),
            "agents": listed,
            "dataCompleteThrough": None,
        }
        if top is not None:
            response["agentCount"] = max(len(ranking), len(listed))
        return response

    def _token_trends(
        self, conn: Connection, tenant_id: uuid.UUID, from_: date, to: date, granularity: str
    ) -> TokenTrendsResponse:
        agg = self.tables.aggregates
        # The period's days, each with its bucket (itself, or its ISO week's
        # Monday), as a VALUES table: portable bucketing that the database
        # groups by, and dense output (a bucket without rows sums to zero).
        days = [from_ + timedelta(days=i) for i in range((to - from_).days + 1)]
        bucket_of = week_start if granularity == "week" else (lambda d: d)
        period = (
            sa.values(sa.column("day", sa.Date), sa.column("bucket", sa.Date), name="period_days")
            .data([(d, bucket_of(d)) for d in days])
            .cte("period_days")
        )
        joined = period.outerjoin(
            agg,
            sa.and_(
                agg.c.date == period.c.day, *self._in_period(tenant_id, from_, to, (TOKEN_ISSUANCES, TOKEN_FAILURES))
            ),
        )
        # Per bucket and agent first (a hash aggregate), then per bucket: unique
        # agents without a sorting COUNT(DISTINCT ...).
        per_agent = (
            sa.select(
                period.c.bucket,
                agg.c.agent_id,
                _sum_of(agg, TOKEN_ISSUANCES).label("issuances"),
                _sum_of(agg, TOKEN_FAILURES).label("failures"),
                sa.func.coalesce(sa.func.sum(agg.c["count"]), 0).label("total"),
            )
            .select_from(joined)
            .group_by(period.c.bucket, agg.c.agent_id)
            .subquery("per_agent")
        )
        rows = conn.execute(
            sa.select(
                per_agent.c.bucket,
                _total(per_agent.c.issuances),
                _total(per_agent.c.failures),
                _total(_is_active_agent(per_agent)),
            )
            .group_by(per_agent.c.bucket)
            .order_by(per_agent.c.bucket)
        ).all()
        points: list[TokenTrendPoint] = []
        for bucket, ok, failed, agents in rows:
            ok, failed = int(ok or 0), int(failed or 0)
            points.append(
                {
                    "date": as_date(bucket).isoformat(),
                    "totalIssuances": ok + failed,
                    "successfulIssuances": ok,
                    "failedIssuances": failed,
                    "uniqueAgents": int(agents or 0),
                }
            )
        return {
            "tenantId": str(tenant_id),
            "period": _period(from_, to),
            "granularity": "week" if granularity == "week" else "day",
            "dataPoints": points,
            "dataCompleteThrough": None,
        }


def _sum_of(agg: sa.Table, metric: str) -> sa.ColumnElement[Any]:
    """SUM(count) of one metric type, 0 when none (conditional aggregation: one scan for all metrics).

    Cast back to BIGINT: PostgreSQL sums BIGINT as NUMERIC, which arrives as
    Decimal and would need converting row by row.
    """
    summed = sa.func.sum(sa.case((agg.c.metric_type == metric, agg.c["count"]), else_=0))
    return sa.cast(sa.func.coalesce(summed, 0), sa.BigInteger)


def _total(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.cast(sa.func.coalesce(sa.func.sum(column), 0), sa.BigInteger)


def _is_active_agent(per_agent: sa.Subquery) -> sa.ColumnElement[Any]:
    """1 for a real agent (not the tenant-wide row) with any count in the group, else 0."""
    return sa.case((sa.and_(per_agent.c.agent_id.is_not(None), per_agent.c.total > 0), 1), else_=0)


def _period(from_: date, to: date) -> dict[str, str]:
    return {"from": from_.isoformat(), "to": to.isoformat()}


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None
