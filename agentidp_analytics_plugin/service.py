"""The analytics service: the spec's ``IAnalyticsService`` in Python, and the one read path.

Every panel of the tab and every endpoint of the JSON API asks one of the
public methods below, with explicit arguments, and gets plain data (the
TypedDicts of :mod:`.types`); the service knows nothing of HTTP. Each method
names its endpoint (:mod:`.params`), which picks its cache TTL and labels its
timing metric, and hands one query module of :mod:`.queries` a connection.
Every sum, bucket and distinct count is computed by the database.

Caching lives here, not in the views: a request first looks up
``analytics:{tenantId}:{endpoint}:{queryHash}`` (the hash covers the aggregate
generation, see :mod:`.caching`); on a miss the queries run (timed into
``agentidp_analytics_query_duration_ms``) and the answer is stored for the
endpoint's TTL under the generation its snapshot saw. Refusals (agent not
found) are not cached. With a cache, answers come back as
:class:`.caching.CachedAnswer`: read-only mappings that also carry the JSON
bytes the API serves, so neither a hit nor a miss serialises them again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from . import errors, job_state
from .aggregation import complete_through
from .caching import AnalyticsCache, CachedAnswer, cache_key
from .errors import AnalyticsError
from .metrics import AnalyticsMetrics
from .params import (
    AGENT_ACTIVITY,
    CALL_PATTERNS,
    DIRECTIONS,
    GRANULARITIES,
    INSIGHTS,
    ROTATION_DEFAULT_SORT,
    ROTATION_SORT_KEYS,
    ROTATIONS,
    TOKEN_TRENDS,
    USAGE_SUMMARY,
)
from .queries import activity, agents, call_patterns, comparison, insights, rotations, summary, trends
from .queries.common import as_date, iso
from .read_routing import ReadRouter
from .schema import Tables
from .types import (
    AgentActivityResponse,
    CallPatternsResponse,
    CredentialRotationsResponse,
    TokenTrendsResponse,
    UsageSummary,
)

#: The metric label of the uncached agent list (the tab's agent filter).
AGENT_LIST = "agent-list"

T = TypeVar("T")


class AnalyticsService:
    """Usage summary, agent activity, token trends, credential rotations and call patterns of a tenant and period.

    ``ttl`` maps each endpoint to its cache TTL in seconds. ``cache`` may be
    None (no caching: benchmarks of the bare queries, the gallery's mock data).
    Every read runs through ``reads`` (default: all on ``engine``), which
    picks the replica or the primary and gives the read one snapshot.
    """

    def __init__(
        self,
        engine: Engine | Callable[[], Engine],
        tables: Tables,
        metrics: AnalyticsMetrics,
        cache: AnalyticsCache | None,
        ttl: dict[str, int],
        reads: ReadRouter | None = None,
    ) -> None:
        self._engine = engine
        self.tables = tables
        self.metrics = metrics
        self.cache = cache
        self.ttl = ttl
        self.reads = reads or ReadRouter(lambda: self.engine)
        #: The last aggregate generation read: cache lookups use it while the database is unreachable.
        self._last_generation: int | None = None

    @property
    def engine(self) -> Engine:
        return self._engine() if callable(self._engine) else self._engine

    # -- the spec's interface (agentId on the summary and the trends is our extension) --

    def get_usage_summary(
        self, tenant_id: uuid.UUID, from_: date, to: date, agent_id: uuid.UUID | None = None
    ) -> UsageSummary:
        """Totals, active agents, daily average and peak day of ``from_``..``to`` (inclusive).

        Plus ``comparison``: the same figures of the preceding period of equal
        length and the change in percent (:mod:`.queries.comparison`).

        With ``agent_id``, of that agent only (its usage; tenant-wide usage belongs
        to no agent); raises AGENT_NOT_FOUND for an agent that is not the tenant's.
        """
        params = {"from": from_.isoformat(), "to": to.isoformat(), "agentId": _str(agent_id)}

        def compute(conn: Connection) -> UsageSummary:
            if agent_id is not None:
                self._require_agent(conn, tenant_id, agent_id)
            answer = summary.usage_summary(conn, self.tables, tenant_id, from_, to, agent_id)
            answer["comparison"] = comparison.comparison(
                conn, self.tables, tenant_id, from_, to, dict(answer["summary"]), agent_id
            )
            return answer

        return self._cached(tenant_id, USAGE_SUMMARY, params, compute)

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
        params = {"from": from_.isoformat(), "to": to.isoformat(), "agentId": _str(agent_id), "top": top}

        def compute(conn: Connection) -> AgentActivityResponse:
            agent = None
            if agent_id is not None:
                agent = (agent_id, self._require_agent(conn, tenant_id, agent_id))
            return activity.agent_activity(conn, self.tables, tenant_id, from_, to, agent, top)

        return self._cached(tenant_id, AGENT_ACTIVITY, params, compute)

    def get_token_trends(
        self,
        tenant_id: uuid.UUID,
        from_: date,
        to: date,
        granularity: str = "day",
        agent_id: uuid.UUID | None = None,
    ) -> TokenTrendsResponse:
        """One point per day or ISO week of the period, zeros included; of one agent with ``agent_id``.

        Raises AGENT_NOT_FOUND for an agent that is not the tenant's.
        """
        if granularity not in GRANULARITIES:
            raise AnalyticsError(400, errors.INVALID_GRANULARITY, "'granularity' must be 'day' or 'week'.")
        params = {
            "from": from_.isoformat(),
            "to": to.isoformat(),
            "granularity": granularity,
            "agentId": _str(agent_id),
        }

        def compute(conn: Connection) -> TokenTrendsResponse:
            if agent_id is not None:
                self._require_agent(conn, tenant_id, agent_id)
            return trends.token_trends(conn, self.tables, tenant_id, from_, to, granularity, agent_id)

        return self._cached(tenant_id, TOKEN_TRENDS, params, compute)

    def get_credential_rotations(
        self,
        tenant_id: uuid.UUID,
        from_: date,
        to: date,
        agent_id: uuid.UUID | None = None,
        *,
        sort: str = ROTATION_DEFAULT_SORT,
        direction: str | None = None,
        stale_days: int = 30,
    ) -> CredentialRotationsResponse:
        """Every agent's rotations in the period, last rotation, mean gap and stale flag, sorted as asked.

        ``stale_days``: an agent is stale with no rotation in that many days up to ``to``.
        Raises AGENT_NOT_FOUND for a filtered agent that is not the tenant's.
        """
        if sort not in ROTATION_SORT_KEYS or direction not in (None, *DIRECTIONS):
            raise AnalyticsError(400, errors.INVALID_PARAMETER, f"Unknown rotation order {sort!r} {direction!r}.")
        params = {
            "from": from_.isoformat(),
            "to": to.isoformat(),
            "agentId": _str(agent_id),
            "sort": sort,
            "dir": direction,
            "staleDays": stale_days,
        }

        def compute(conn: Connection) -> CredentialRotationsResponse:
            if agent_id is not None:
                self._require_agent(conn, tenant_id, agent_id)
            return rotations.credential_rotations(
                conn,
                self.tables,
                tenant_id,
                from_,
                to,
                agent_id=agent_id,
                sort=sort,
                direction=direction,
                stale_days=stale_days,
            )

        return self._cached(tenant_id, ROTATIONS, params, compute)

    def get_call_patterns(
        self, tenant_id: uuid.UUID, from_: date, to: date, agent_id: uuid.UUID | None = None
    ) -> CallPatternsResponse:
        """Per-endpoint calls, errors, latency, busiest agents and daily series, busiest endpoint first.

        With ``agent_id``, of that agent's calls only; raises AGENT_NOT_FOUND for an agent that is not the tenant's.
        """
        params = {"from": from_.isoformat(), "to": to.isoformat(), "agentId": _str(agent_id)}

        def compute(conn: Connection) -> CallPatternsResponse:
            if agent_id is not None:
                self._require_agent(conn, tenant_id, agent_id)
            return call_patterns.call_patterns(conn, self.tables, tenant_id, from_, to, agent_id)

        return self._cached(tenant_id, CALL_PATTERNS, params, compute)

    def get_insights(
        self,
        tenant_id: uuid.UUID,
        from_: date,
        to: date,
        *,
        dormant_days: int = 30,
        stale_days: int = 30,
        min_failures: int = 5,
        call_patterns: bool = False,
    ) -> dict[str, Any]:
        """Ranked findings of the period: dormant agents, failure spikes and rates, overdue rotations,
        usage moves, new agents; with ``call_patterns`` (the host records them) failed-call spikes too.

        The thresholds are part of the cache key (see :mod:`.queries.insights` for the rules).
        """
        params = {
            "from": from_.isoformat(),
            "to": to.isoformat(),
            "dormantDays": dormant_days,
            "staleDays": stale_days,
            "minFailures": min_failures,
            "callPatterns": call_patterns,
        }

        def compute(conn: Connection) -> dict[str, Any]:
            return insights.insights(
                conn,
                self.tables,
                tenant_id,
                from_,
                to,
                dormant_days=dormant_days,
                stale_days=stale_days,
                min_failures=min_failures,
                call_patterns=call_patterns,
            )

        return self._cached(tenant_id, INSIGHTS, params, compute)

    def list_agents(self, tenant_id: uuid.UUID) -> list[tuple[str, str]]:
        """(id, name) of the tenant's agents by name, for the agent filter (never cached: new agents show at once)."""
        started = time.perf_counter()
        listed = self.reads.run(lambda conn: agents.tenant_agents(conn, self.tables, tenant_id))
        self._observe(AGENT_LIST, started)
        return listed

    def data_complete_through(self) -> date | None:
        """The last day up to which every day is aggregated (uncached)."""
        return self.reads.run(self._complete_through)

    # -- caching --------------------------------------------------------------

    def _cached(
        self, tenant_id: uuid.UUID, endpoint: str, params: dict[str, Any], compute: Callable[[Connection], T]
    ) -> T:
        cache = self.cache
        if cache is not None:
            # While the cache is being skipped after a failure the lookup is a counted miss: no generation needed.
            current = cache.generation(self._current_generation, endpoint) if cache.available else 0
            hit = cache.get(cache_key(tenant_id, endpoint, params, current), endpoint)
            if hit is not None:
                return hit
        seen: list[int] = []

        def read(conn: Connection) -> T:
            # One snapshot (see read_routing): the day claimed is a day the numbers hold,
            # and the generation the answer is stored under is the one they were read at.
            value = compute(conn)
            state = job_state.read(conn, self.tables)
            value["dataCompleteThrough"] = iso(self._complete_through(conn, state))  # type: ignore[index]
            seen.append(state.generation)
            self._last_generation = state.generation
            return value

        started = time.perf_counter()
        value = self.reads.run(read)
        self._observe(endpoint, started)
        if cache is None:
            return value
        # Serialised and hashed once: the entry stored and the response served are the same bytes.
        answer = CachedAnswer.of(value)  # type: ignore[arg-type]
        cache.set(cache_key(tenant_id, endpoint, params, seen[-1]), answer, self.ttl[endpoint], endpoint)
        return answer  # type: ignore[return-value]

    def _observe(self, endpoint: str, started: float) -> None:
        self.metrics.query_duration_ms.labels(endpoint=endpoint).observe((time.perf_counter() - started) * 1000)

    def _current_generation(self) -> int:
        """The aggregate generation from the database; during an outage, the last one this process saw.

        While the database is unreachable no run can commit a new generation
        here, and the cached answers stay servable as before.
        """
        try:
            generation = self.reads.run(lambda conn: job_state.read(conn, self.tables).generation)
        except (SQLAlchemyError, AnalyticsError) as exc:
            outage = errors.is_outage(exc) if isinstance(exc, SQLAlchemyError) else exc.status == 503
            if not outage or self._last_generation is None:
                raise
            return self._last_generation
        self._last_generation = generation
        return generation

    def _complete_through(self, conn: Connection, state: job_state.JobState | None = None) -> date | None:
        """From the first day with usage events, the last day every day up to which is aggregated."""
        state = state or job_state.read(conn, self.tables)
        if state.first_event_day is None:
            return None
        ledger = self.tables.ledger
        days = [
            as_date(d)
            for d in conn.execute(
                sa.select(ledger.c.date).where(ledger.c.date >= state.first_event_day).order_by(ledger.c.date)
            ).scalars()
        ]
        return complete_through(days, state.first_event_day, date.max)

    def _require_agent(self, conn: Connection, tenant_id: uuid.UUID, agent_id: uuid.UUID) -> str:
        """The agent's name; AGENT_NOT_FOUND when it is not the tenant's (unknown and foreign alike: nothing leaks)."""
        name = agents.agent_name(conn, self.tables, tenant_id, agent_id)
        if name is None:
            raise AnalyticsError(404, errors.AGENT_NOT_FOUND, "No agent with this id belongs to your tenant.")
        return name


def _str(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None
