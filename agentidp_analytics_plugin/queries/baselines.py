"""Robust baselines in SQL: the median and the median absolute deviation of each day's trailing values.

The insights' newer rules (per agent failed calls, the tenant's failure rate)
ask the question the token failure spike asks (in its own statement, tuned
for its worst case, see :mod:`.insights`): is this day's value far above the
values of the days before it? Far means above
``median + SPIKE_SIGMAS * max(1.4826 * MAD, floor)``: 1.4826 * MAD estimates
the standard deviation without letting one bad day in the history move it,
and the floor keeps a flat history from making every small rise a spike.

The database computes both medians with ROW_NUMBER and COUNT windows over
each (key, day)'s trailing values, so a history of any length works (the
per-agent rules give 28 values, zeros included; the failure rate only the
days that had token requests). Values are kept doubled (``median2``) and
deviations doubled twice (``mad4``), so integer counts stay integers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

#: Days of history each day's value is compared with.
BASELINE_DAYS = 28
#: How far above the baseline a spike is, in robust standard deviations.
SPIKE_SIGMAS = 3
#: 1.4826 * MAD estimates the standard deviation of normally distributed values.
MAD_SCALE = 1.4826


def offsets(days: int = BASELINE_DAYS) -> sa.CTE:
    """The numbers 1..``days`` as a CTE (column ``k``): joined to a day, its trailing days."""
    return sa.union_all(*(sa.select(sa.literal(k).label("k")) for k in range(1, days + 1))).cte("offsets")


def _middle(rn: sa.ColumnElement[Any], n: Any, value: sa.ColumnElement[Any]) -> Any:
    """Twice the median of a group: its ((n+1)//2)th plus its ((n+2)//2)th value (the same one when n is odd)."""
    if isinstance(n, int):  # a fixed number of values: the positions are constants
        low, high = (n + 1) // 2, (n + 2) // 2
        if low != high:
            return sa.func.sum(sa.case((sa.or_(rn == low, rn == high), value), else_=0))
        return 2 * sa.func.sum(sa.case((rn == low, value), else_=0))
    low, high = (n + 1) // 2, (n + 2) // 2
    return sa.func.sum(sa.case((rn == low, value), else_=0)) + sa.func.sum(sa.case((rn == high, value), else_=0))


def median_and_mad(trail: sa.CTE, keys: Sequence[str], name: str, size: int | None = None) -> sa.CTE:
    """Per (``keys``, day) of ``trail`` (columns ``keys``, ``day``, ``value``): ``median2``, ``mad4``, ``n``.

    ``median2`` is twice the median of the values, ``mad4`` four times their
    median absolute deviation, ``n`` how many values there were. ``size``:
    every group has exactly that many values (a dense history), so no COUNT
    window is needed to find the middle ones.
    """
    t = trail.c
    group = [t[k] for k in keys] + [t.day]
    counted = [] if size is not None else [sa.func.count().over(partition_by=group).label("n")]
    ranked = sa.select(
        *group,
        t.value,
        sa.func.row_number().over(partition_by=group, order_by=t.value).label("rn"),
        *counted,
    ).subquery(f"{name}_ranked")
    r = ranked.c
    r_group = [r[k] for k in keys] + [r.day]
    n = size if size is not None else r.n
    medians = (
        sa.select(
            *r_group,
            _middle(r.rn, n, r.value).label("median2"),
            (sa.literal(size) if size is not None else sa.func.max(r.n)).label("n"),
        )
        .group_by(*r_group)
        .cte(f"{name}_medians")
    )
    m = medians.c
    deviation = sa.func.abs(2 * t.value - m.median2)  # twice |value - median|
    dev_ranked = (
        sa.select(
            *group,
            deviation.label("dev2"),
            sa.func.row_number().over(partition_by=group, order_by=deviation).label("rn"),
            m.n,
        )
        .select_from(trail.join(medians, sa.and_(*(m[k] == t[k] for k in keys), m.day == t.day)))
        .subquery(f"{name}_dev_ranked")
    )
    d = dev_ranked.c
    d_group = [d[k] for k in keys] + [d.day]
    mads = (
        sa.select(*d_group, _middle(d.rn, size if size is not None else d.n, d.dev2).label("mad4"))
        .group_by(*d_group)
        .subquery(f"{name}_mads")
    )
    md = mads.c
    return (
        sa.select(*(m[k] for k in keys), m.day, m.median2, md.mad4, m.n)
        .select_from(medians.join(mads, sa.and_(*(md[k] == m[k] for k in keys), md.day == m.day)))
        .cte(name)
    )


def excess(value: sa.ColumnElement[Any], median2: Any, mad4: Any, floor: float) -> sa.ColumnElement[float]:
    """How far ``value`` lies above ``median + SPIKE_SIGMAS * max(MAD_SCALE * MAD, floor)``; a spike when > 0."""
    sigma = MAD_SCALE * sa.cast(mad4, sa.Float) / 4
    floored = sa.case((sigma > floor, sigma), else_=floor)
    return sa.cast(value, sa.Float) - (sa.cast(median2, sa.Float) / 2 + SPIKE_SIGMAS * floored)


#: How many of an agent's highest days of the period are weighed as possible spikes.
SPIKE_CANDIDATE_DAYS = 7


def largest_spikes(daily: sa.CTE, from_day: int, to_day: int, min_count: int, name: str) -> sa.Subquery:
    """Each agent's largest spike of the period, from ``daily`` (columns ``agent_id``, ``day``, ``value``).

    ``daily`` holds each agent's days with a value, over the period and the
    :data:`BASELINE_DAYS` before it (``day`` is a day number). Each of an
    agent's :data:`SPIKE_CANDIDATE_DAYS` highest days of the period with at
    least ``min_count`` is compared with the agent's own 28 days before it,
    zeros included (a missing day is a 0). Weighing only the busiest days keeps
    the cost to agents x 7 x 28 rows where every agent has a value every day
    (a day left out is one on which the agent had less than on seven others).

    Columns: ``agent_id``, ``day``, ``value``, ``median2``, ``mad4``.
    """
    d = daily.c
    busiest = (
        sa.select(
            d.agent_id,
            d.day,
            d.value,
            sa.func.row_number().over(partition_by=d.agent_id, order_by=(d.value.desc(), d.day.desc())).label("rank"),
        )
        .where(d.day.between(from_day, to_day), d.value >= min_count)
        .subquery(f"{name}_busiest")
    )
    candidates = (
        sa.select(busiest.c.agent_id, busiest.c.day, busiest.c.value)
        .where(busiest.c["rank"] <= SPIKE_CANDIDATE_DAYS)
        .cte(f"{name}_candidates")
    )
    offs = offsets()
    cand, off = candidates.c, offs.c
    # 28 rows per candidate day, zeros included.
    trail = (
        sa.select(cand.agent_id, cand.day, sa.func.coalesce(d.value, 0).label("value"))
        .select_from(
            candidates.join(offs, sa.true()).outerjoin(
                daily, sa.and_(d.agent_id == cand.agent_id, d.day == cand.day - off.k)
            )
        )
        .cte(f"{name}_trail")
    )
    baseline = median_and_mad(trail, ["agent_id"], f"{name}_baseline", size=BASELINE_DAYS)
    b = baseline.c
    above = excess(cand.value, b.median2, b.mad4, floor=1.0)
    ranked = (
        sa.select(
            cand.agent_id,
            cand.day,
            cand.value,
            b.median2,
            b.mad4,
            sa.func.row_number().over(partition_by=cand.agent_id, order_by=(above.desc(), cand.day.desc())).label("rn"),
        )
        .select_from(candidates.join(baseline, sa.and_(b.agent_id == cand.agent_id, b.day == cand.day)))
        .where(above > 0)
        .subquery(f"{name}_ranked_spikes")
    )
    r = ranked.c
    return (
        sa.select(r.agent_id, r.day, r.value, r.median2, r.mad4).where(r.rn == 1).subquery(f"{name}_spikes")
    )
