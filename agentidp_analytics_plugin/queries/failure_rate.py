"""The tenant's token failure rate on a day of the period, against its own trailing baseline.

A failed token request is stored as a ``token_failures`` count beside the
``token_issuances`` (successes) of the same day, so the day's failure rate is
``failures / (issuances + failures)``: the share of token requests that failed.
The tenant's day sums (:mod:`..rollups`) hold both, whatever the number of agents.

One statement: each of the period's :data:`~.baselines.SPIKE_CANDIDATE_DAYS`
days with the highest rate (among the days with at least
:data:`MIN_REQUESTS` token requests and ``min_failures`` failures, so that 2 of
3 failing is not a finding) is compared with the rates of the 28 days before
it that had token requests (a day without any has no rate, and counting it as
0 would make every quiet weekend lower the baseline). Robust rule as for the
agents' spikes (:mod:`.baselines`): above ``median + 3 * max(1.4826 * MAD,
0.02)``, the floor being 2 percentage points; and only with at least
:data:`MIN_BASELINE_DAYS` such days, so a tenant's first week is no finding.
The day furthest above its baseline is reported.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..schema import Tables
from .baselines import BASELINE_DAYS, SPIKE_CANDIDATE_DAYS, excess, median_and_mad, offsets
from .common import TOKEN_FAILURES, TOKEN_ISSUANCES, sum_of
from .day_numbers import day_number, days_before, num

#: The fewest token requests (issued and failed) a day needs for its failure rate to count as high.
MIN_REQUESTS = 20
#: The fewest days with token requests among the 28 before that make a baseline.
MIN_BASELINE_DAYS = 7
#: The least robust standard deviation of a rate: 2 percentage points.
RATE_FLOOR = 0.02


def failure_rate_spike(
    conn: Connection,
    tables: Tables,
    tenant_id: uuid.UUID,
    from_: date,
    to: date,
    *,
    min_failures: int,
) -> tuple[Any, ...] | None:
    """(day number, failures, requests, rate, median x2, MAD x4, baseline days) of the worst day, or None."""
    daily = tables.tenant_daily
    dn = day_number(daily.c.date, conn.dialect.name)
    from_day, to_day = num(from_), num(to)
    failed = sum_of(daily, TOKEN_FAILURES)
    requests = sum_of(daily, TOKEN_ISSUANCES) + failed
    days = (
        sa.select(dn.label("day"), failed.label("failed"), requests.label("requests"))
        .where(
            daily.c.tenant_id == tenant_id,
            daily.c.metric_type.in_((TOKEN_ISSUANCES, TOKEN_FAILURES)),
            daily.c.date.between(days_before(from_, BASELINE_DAYS), to),
        )
        .group_by(daily.c.date)
        .subquery("request_days")
    )
    q = days.c
    rates = (
        sa.select(q.day, q.failed, q.requests, (sa.cast(q.failed, sa.Float) / q.requests).label("value"))
        .where(q.requests > 0)
        .cte("failure_rates")
    )
    r = rates.c
    ranked = (
        sa.select(
            r.day,
            r.failed,
            r.requests,
            r.value,
            sa.func.row_number().over(order_by=(r.value.desc(), r.day.desc())).label("rank"),
        )
        .where(r.day.between(from_day, to_day), r.requests >= MIN_REQUESTS, r.failed >= min_failures)
        .subquery("rate_ranked")
    )
    candidates = (
        sa.select(ranked.c.day, ranked.c.failed, ranked.c.requests, ranked.c.value)
        .where(ranked.c["rank"] <= SPIKE_CANDIDATE_DAYS)
        .cte("rate_candidates")
    )
    offs = offsets()
    cand, off = candidates.c, offs.c
    # Only the trailing days that had token requests: a day without any has no rate.
    trail = (
        sa.select(cand.day, r.value)
        .select_from(candidates.join(offs, sa.true()).join(rates, r.day == cand.day - off.k))
        .cte("rate_trail")
    )
    baseline = median_and_mad(trail, [], "rate_baseline")
    b = baseline.c
    above = excess(cand.value, b.median2, b.mad4, floor=RATE_FLOOR)
    stmt = (
        sa.select(cand.day, cand.failed, cand.requests, cand.value, b.median2, b.mad4, b.n)
        .select_from(candidates.join(baseline, b.day == cand.day))
        .where(b.n >= MIN_BASELINE_DAYS, above > 0)
        .order_by(above.desc(), cand.day.desc())
        .limit(1)
    )
    row = conn.execute(stmt).first()
    return tuple(row) if row is not None else None
