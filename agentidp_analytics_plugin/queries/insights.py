"""Insights: what in a tenant's analytics needs someone's attention, found by the database.

Three statements per request (four when the host records call patterns),
whatever the number of agents; every rule is a WHERE clause, so Python only
turns the flagged rows into findings.

1. Per agent (one GROUP BY over the tenant's daily aggregates up to ``to``,
   joined to the host's agents, then one UNION ALL of the rules):

   * ``dormant_agent``: no activity (any metric above zero) in the
     ``dormant_days`` days up to ``to``, or never;
   * ``overdue_rotation``: no credential rotation in the ``stale_days`` days
     up to ``to``, or never (the rotation table's ``stale`` flag);
   * ``usage_surge`` / ``usage_drop``: API calls of the period against the
     preceding period of equal length, at least :data:`USAGE_FACTOR` times
     more (or fewer) and at least :data:`USAGE_MIN_CHANGE` calls apart;
   * ``new_agents``: agents whose first activity ever lies in the period.

2. ``failure_spike``: each of an agent's
   :data:`~.baselines.SPIKE_CANDIDATE_DAYS` highest
   days of the period with at least ``min_failures`` failed token requests
   is compared with that agent's own
   28 days before it, zeros included (a dense series from a 28-row offset
   table). Robust baseline: the median ``m`` and the median absolute
   deviation ``MAD``; a spike is a count above
   ``m + 3 * max(1.4826 * MAD, 1)`` (1.4826 * MAD estimates the standard
   deviation; the floor of 1 keeps a flat history from making every small
   rise a spike, and the minimum count keeps 0 -> 2 from being one). Medians
   come from ROW_NUMBER over the 28 values (the 14th and 15th); the agent's
   largest spike among those days is reported. Weighing only the busiest days
   keeps the cost to agents x 7 x 28 rows where every agent fails every day
   (a day left out is one on which the agent failed less than on seven others).

3. ``tenant_failure_rate``: the tenant's token failure rate on a day of the
   period against the rates of the days before it (:mod:`.failure_rate`).

4. ``call_error_spike``, when the host records call patterns: an agent's
   failed calls (4xx, 5xx) on a day, by the same rule as the failure spikes
   (:mod:`.call_failures`).

Dates become integer day numbers (days since 1970-01-01) in both databases,
so all the arithmetic is integer arithmetic, the same in PostgreSQL and SQLite.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..schema import Tables
from .baselines import BASELINE_DAYS, SPIKE_CANDIDATE_DAYS, SPIKE_SIGMAS
from .call_failures import call_error_spikes
from .common import API_CALLS, CREDENTIAL_ROTATIONS, TOKEN_FAILURES, period
from .day_numbers import EPOCH, day_number, days_before, num, to_date
from .failure_rate import MIN_REQUESTS, failure_rate_spike

#: A usage surge is this many times the previous period's calls (a drop this many times fewer) ...
USAGE_FACTOR = 2
#: ... and at least this many calls apart, so small numbers moving is no finding.
USAGE_MIN_CHANGE = 100

#: The tenant-wide finding's rank among the findings of its severity: first.
TENANT_SCORE = 10**12

#: Failed-call spikes are medium and come after the other medium findings: they often echo an
#: agent's token failure spike (refused token requests are failed calls too) or an outage of the
#: host itself (5xx for many agents on the same day), and would otherwise push the findings a
#: tenant can act on off the panel.
KIND_RANK = {"call_error_spike": 1}

SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2, "info": 3}
SEVERITY = {
    "dormant_agent": "high",
    "tenant_failure_rate": "high",
    "failure_spike": "high",
    "overdue_rotation": "medium",
    "call_error_spike": "medium",
    "usage_drop": "medium",
    "usage_surge": "low",
    "new_agents": "info",
}


def agent_findings(
    conn: Connection,
    tables: Tables,
    tenant_id: uuid.UUID,
    from_: date,
    to: date,
    *,
    dormant_days: int,
    stale_days: int,
) -> list[tuple[Any, ...]]:
    """Rows (kind, agent id, agent name, a, b, c) of every per-agent rule that fires; see the module doc."""
    agg, agents = tables.aggregates, tables.agents
    dn = day_number(agg.c.date, conn.dialect.name)
    days = (to - from_).days + 1
    cur_from, to_n = num(from_), num(to)
    prev_from = cur_from - days
    active = agg.c["count"] > 0

    def calls_between(low: int, high: int) -> sa.ColumnElement[Any]:
        inside = sa.and_(agg.c.metric_type == API_CALLS, dn >= low, dn <= high)
        return sa.func.coalesce(sa.func.sum(sa.case((inside, agg.c["count"]), else_=0)), 0)

    stats = (
        sa.select(
            agg.c.agent_id.label("agent_id"),
            sa.func.max(sa.case((active, dn))).label("last_active"),
            sa.func.min(sa.case((active, dn))).label("first_active"),
            sa.func.max(sa.case((sa.and_(active, agg.c.metric_type == CREDENTIAL_ROTATIONS), dn))).label(
                "last_rotation"
            ),
            calls_between(cur_from, to_n).label("calls"),
            calls_between(prev_from, cur_from - 1).label("previous_calls"),
        )
        .where(agg.c.tenant_id == tenant_id, agg.c.agent_id.is_not(None), agg.c.date <= to)
        .group_by(agg.c.agent_id)
        .subquery("stats")
    )
    base = (
        sa.select(
            agents.c.id.label("agent_id"),
            sa.func.coalesce(agents.c.name, "").label("name"),
            stats.c.last_active,
            stats.c.first_active,
            stats.c.last_rotation,
            sa.func.coalesce(stats.c.calls, 0).label("calls"),
            sa.func.coalesce(stats.c.previous_calls, 0).label("previous_calls"),
        )
        .select_from(agents.outerjoin(stats, stats.c.agent_id == agents.c.id))
        .where(agents.c.tenant_id == tenant_id)
        .cte("base")
    )
    b = base.c
    null = sa.null()

    def rule(kind: str, a: Any, b_: Any, c: Any, where: sa.ColumnElement[bool]) -> sa.Select[Any]:
        return sa.select(
            sa.literal(kind).label("kind"),
            b.agent_id,
            b.name,
            sa.cast(a, sa.BigInteger).label("a"),
            sa.cast(b_, sa.BigInteger).label("b"),
            sa.cast(c, sa.BigInteger).label("c"),
        ).where(where)

    calls, previous = b.calls, b.previous_calls
    rules = sa.union_all(
        rule(
            "dormant_agent",
            b.last_active,
            to_n - b.last_active,
            null,
            sa.or_(b.last_active.is_(None), b.last_active <= to_n - dormant_days),
        ),
        rule(
            "overdue_rotation",
            b.last_rotation,
            to_n - b.last_rotation,
            null,
            sa.or_(b.last_rotation.is_(None), b.last_rotation <= to_n - stale_days),
        ),
        rule(
            "usage_surge",
            calls,
            previous,
            null,
            sa.and_(calls - previous >= USAGE_MIN_CHANGE, calls >= previous * USAGE_FACTOR),
        ),
        rule(
            "usage_drop",
            calls,
            previous,
            null,
            sa.and_(previous - calls >= USAGE_MIN_CHANGE, calls * USAGE_FACTOR <= previous),
        ),
        rule("new_agents", b.first_active, null, null, b.first_active.between(cur_from, to_n)),
    )
    return [tuple(row) for row in conn.execute(rules)]


def failure_spikes(
    conn: Connection, tables: Tables, tenant_id: uuid.UUID, from_: date, to: date, *, min_failures: int
) -> list[tuple[Any, ...]]:
    """Rows (agent id, agent name, day number, failures, median x2, MAD x2) of each agent's largest spike."""
    agg, agents = tables.aggregates, tables.agents
    dialect = conn.dialect.name
    dn = day_number(agg.c.date, dialect)
    failures = sa.and_(agg.c.tenant_id == tenant_id, agg.c.metric_type == TOKEN_FAILURES, agg.c.agent_id.is_not(None))
    busiest = (
        sa.select(
            agg.c.agent_id,
            dn.label("day"),
            agg.c["count"].label("failures"),
            sa.func.row_number()
            .over(partition_by=agg.c.agent_id, order_by=(agg.c["count"].desc(), agg.c.date.desc()))
            .label("rank"),
        )
        .where(failures, agg.c.date.between(from_, to), agg.c["count"] >= min_failures)
        .subquery("busiest")
    )
    # Only each agent's highest failure days are weighed against their 28-day history:
    # the cost follows agents, not agent-days, on a tenant whose agents fail every day.
    candidates = (
        sa.select(busiest.c.agent_id, busiest.c.day, busiest.c.failures)
        .where(busiest.c["rank"] <= SPIKE_CANDIDATE_DAYS)
        .cte("candidates")
    )
    offsets = sa.union_all(*(sa.select(sa.literal(k).label("k")) for k in range(1, BASELINE_DAYS + 1))).cte("offsets")
    history = (
        sa.select(agg.c.agent_id, dn.label("day"), agg.c["count"].label("failures"))
        .where(failures, agg.c.date.between(days_before(from_, BASELINE_DAYS), to))
        .cte("history")
    )
    cand, off, hist = candidates.c, offsets.c, history.c
    # 28 rows per candidate day, zeros included.
    trail = (
        sa.select(
            cand.agent_id,
            cand.day,
            sa.func.coalesce(hist.failures, 0).label("value"),
        )
        .select_from(
            candidates.join(offsets, sa.true()).outerjoin(
                history, sa.and_(hist.agent_id == cand.agent_id, hist.day == cand.day - off.k)
            )
        )
        .cte("trail")
    )
    t = trail.c
    ranked = sa.select(
        t.agent_id,
        t.day,
        t.value,
        sa.func.row_number().over(partition_by=(t.agent_id, t.day), order_by=t.value).label("rn"),
    ).subquery("ranked")
    r = ranked.c
    # Twice the median: the sum of the 14th and 15th of 28 values (kept integer).
    medians = (
        sa.select(r.agent_id, r.day, sa.func.sum(r.value).label("median2"))
        .where(sa.or_(r.rn == BASELINE_DAYS // 2, r.rn == BASELINE_DAYS // 2 + 1))
        .group_by(r.agent_id, r.day)
        .cte("medians")
    )
    m = medians.c
    deviation = sa.func.abs(2 * t.value - m.median2)  # twice |value - median|
    dev_ranked = (
        sa.select(
            t.agent_id,
            t.day,
            deviation.label("dev2"),
            sa.func.row_number().over(partition_by=(t.agent_id, t.day), order_by=deviation).label("rn"),
        )
        .select_from(trail.join(medians, sa.and_(m.agent_id == t.agent_id, m.day == t.day)))
        .subquery("dev_ranked")
    )
    d = dev_ranked.c
    # Twice the MAD, times 2 again: the sum of the 14th and 15th doubled deviations.
    mads = (
        sa.select(d.agent_id, d.day, sa.func.sum(d.dev2).label("mad4"))
        .where(sa.or_(d.rn == BASELINE_DAYS // 2, d.rn == BASELINE_DAYS // 2 + 1))
        .group_by(d.agent_id, d.day)
        .cte("mads")
    )
    md = mads.c
    sigma = 1.4826 * sa.cast(md.mad4, sa.Float) / 4
    floor_sigma = sa.case((sigma > 1, sigma), else_=1.0)
    threshold = sa.cast(m.median2, sa.Float) / 2 + SPIKE_SIGMAS * floor_sigma
    excess = sa.cast(cand.failures, sa.Float) - threshold
    spikes = (
        sa.select(
            cand.agent_id,
            cand.day,
            cand.failures,
            m.median2,
            md.mad4,
            sa.func.row_number()
            .over(partition_by=cand.agent_id, order_by=(excess.desc(), cand.day.desc()))
            .label("rn"),
        )
        .select_from(
            candidates.join(medians, sa.and_(m.agent_id == cand.agent_id, m.day == cand.day)).join(
                mads, sa.and_(md.agent_id == cand.agent_id, md.day == cand.day)
            )
        )
        .where(excess > 0)
        .subquery("spikes")
    )
    s = spikes.c
    stmt = (
        sa.select(s.agent_id, sa.func.coalesce(agents.c.name, ""), s.day, s.failures, s.median2, s.mad4)
        .select_from(spikes.join(agents, agents.c.id == s.agent_id))
        .where(s.rn == 1, agents.c.tenant_id == tenant_id)
    )
    return [tuple(row) for row in conn.execute(stmt)]


def insights(
    conn: Connection,
    tables: Tables,
    tenant_id: uuid.UUID,
    from_: date,
    to: date,
    *,
    dormant_days: int,
    stale_days: int,
    min_failures: int,
    call_patterns: bool = False,
) -> dict[str, Any]:
    """The ranked findings of the period: most severe first, then the largest numbers, then by agent name.

    ``call_patterns``: the host records call patterns, so failed calls are weighed too.
    """
    findings: list[dict[str, Any]] = []
    new_agents: list[dict[str, Any]] = []
    days = (to - from_).days + 1
    prev_from = days_before(from_, days)
    for kind, agent_id, name, a, b, _c in agent_findings(
        conn, tables, tenant_id, from_, to, dormant_days=dormant_days, stale_days=stale_days
    ):
        agent = {"agentId": str(agent_id), "agentName": name}
        if kind == "new_agents":
            new_agents.append({**agent, "firstActive": to_date(a)})
            continue
        if kind == "dormant_agent":
            numbers: dict[str, Any] = {"lastActive": to_date(a), "daysInactive": b, "dormantDays": dormant_days}
            score = b if b is not None else 10**9
            view = {"from": from_, "to": to}
        elif kind == "overdue_rotation":
            numbers = {"lastRotation": to_date(a), "daysSinceRotation": b, "staleDays": stale_days}
            score = b if b is not None else 10**9
            view = {"from": from_, "to": to}
        else:  # usage_surge, usage_drop
            numbers = {
                "apiCalls": a,
                "previousApiCalls": b,
                "previousPeriod": period(prev_from, days_before(from_, 1)),
            }
            score = abs(a - b)
            view = {"from": prev_from, "to": to}
        findings.append(_finding(kind, [agent], numbers, view, agent_id, score))
    for agent_id, name, day, failures, median2, mad4 in failure_spikes(
        conn, tables, tenant_id, from_, to, min_failures=min_failures
    ):
        counts = {"tokenFailures": int(failures)}
        findings.append(_spike("failure_spike", agent_id, name, day, counts, median2, mad4, min_failures))
    rate = failure_rate_spike(conn, tables, tenant_id, from_, to, min_failures=min_failures)
    if rate is not None:
        findings.append(_tenant_failure_rate(rate, min_failures))
    if call_patterns:
        for agent_id, name, day, errors, client, server, median2, mad4 in call_error_spikes(
            conn, tables, tenant_id, from_, to, min_errors=min_failures
        ):
            counts = {"failedCalls": int(errors), "clientErrors": int(client), "serverErrors": int(server)}
            findings.append(
                _spike("call_error_spike", agent_id, name, day, counts, median2, mad4, min_failures, panel="calls")
            )
    if new_agents:
        new_agents.sort(key=lambda a: (a["firstActive"], a["agentName"].lower()))
        agents_only = [{"agentId": a["agentId"], "agentName": a["agentName"]} for a in new_agents]
        numbers = {"count": len(new_agents), "firstActive": {a["agentId"]: a["firstActive"] for a in new_agents}}
        findings.append(_finding("new_agents", agents_only, numbers, {"from": from_, "to": to}, None, len(new_agents)))
    findings.sort(
        key=lambda f: (SEVERITY_RANK[f["severity"]], KIND_RANK.get(f["kind"], 0), -f.pop("_score"), _first_name(f))
    )
    return {
        "tenantId": str(tenant_id),
        "period": period(from_, to),
        "insights": findings,
        "dataCompleteThrough": None,
    }


def _tenant_failure_rate(row: tuple[Any, ...], min_failures: int) -> dict[str, Any]:
    """The tenant-wide failure rate finding (no agent: it is about every token request of the tenant)."""
    day, failed, requests, rate, median2, mad4, baseline_days = row
    spike_day = EPOCH + timedelta(days=int(day))
    numbers = {
        "date": spike_day.isoformat(),
        "tokenFailures": int(failed),
        "tokenRequests": int(requests),
        "failureRate": round(float(rate), 4),
        "baselineMedianRate": round(float(median2) / 2, 4),
        "baselineMadRate": round(float(mad4) / 4, 4),
        "baselineDays": int(baseline_days),
        "minimumRequests": MIN_REQUESTS,
        "minimumCount": min_failures,
    }
    view = {"from": days_before(spike_day, BASELINE_DAYS), "to": spike_day}
    # About the whole tenant: ranked before the agents' findings of its severity.
    return _finding("tenant_failure_rate", [], numbers, view, None, TENANT_SCORE, panel="trends")


def _first_name(finding: dict[str, Any]) -> str:
    agents = finding["agents"]
    return agents[0]["agentName"].lower() if agents else ""



def _spike(
    kind: str,
    agent_id: Any,
    name: str,
    day: int,
    counts: dict[str, int],
    median2: int,
    mad4: int,
    min_count: int,
    panel: str | None = None,
) -> dict[str, Any]:
    """A finding for one agent's day far above its own baseline (the two spike rules share its shape)."""
    spike_day = EPOCH + timedelta(days=int(day))
    numbers = {
        "date": spike_day.isoformat(),
        **counts,
        "baselineMedian": int(median2) / 2,
        "baselineMad": int(mad4) / 4,
        "baselineDays": BASELINE_DAYS,
        "minimumCount": min_count,
    }
    view = {"from": days_before(spike_day, BASELINE_DAYS), "to": spike_day}
    agent = {"agentId": str(agent_id), "agentName": name}
    return _finding(kind, [agent], numbers, view, agent_id, next(iter(counts.values())), panel=panel)


def _finding(
    kind: str,
    agents: list[dict[str, str]],
    numbers: dict[str, Any],
    view: dict[str, date],
    agent_id: Any,
    score: int,
    panel: str | None = None,
) -> dict[str, Any]:
    """One finding; ``view`` is the tab state that shows it (period, and the agent when there is one).

    ``panel``: the one panel of that state that shows it (the link then scrolls to it).
    """
    state = {"range": "custom", "from": view["from"].isoformat(), "to": view["to"].isoformat()}
    if agent_id is not None:
        state["agentId"] = str(agent_id)
    finding = {
        "kind": kind,
        "severity": SEVERITY[kind],
        "agents": agents,
        "numbers": numbers,
        "view": state,
        "_score": score,
    }
    if panel is not None:
        finding["panel"] = panel
    return finding
