"""GET /analytics/token-trends: daily and weekly (ISO week) points, dense."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from agentidp_analytics_plugin.rollups import week_start
from api_fixtures import days_ago


def _point(day: date, ok: int = 0, failed: int = 0, agents: int = 0) -> dict:
    return {
        "date": day.isoformat(),
        "totalIssuances": ok + failed,
        "successfulIssuances": ok,
        "failedIssuances": failed,
        "uniqueAgents": agents,
    }


def test_daily_trends_have_one_point_per_day_zeros_included(api, seed):
    s = seed(
        [
            ("alpha", 3, "token_issuances", 10),
            ("alpha", 3, "token_failures", 2),
            ("beta", 3, "token_issuances", 1),
            ("beta", 1, "token_failures", 4),
            ("beta", 1, "api_calls", 999),
        ]
    )
    body = api.ok("token-trends", s.token, from_=days_ago(3).isoformat(), to=days_ago(0).isoformat())
    assert body["granularity"] == "day"
    assert body["dataPoints"] == [
        _point(days_ago(3), ok=11, failed=2, agents=2),
        _point(days_ago(2)),
        _point(days_ago(1), failed=4, agents=1),
        _point(days_ago(0)),
    ]


def test_tenant_wide_issuances_count_in_totals_not_in_unique_agents(api, seed):
    s = seed([(None, 1, "token_issuances", 5)])
    points = api.ok("token-trends", s.token, from_=days_ago(1).isoformat(), to=days_ago(1).isoformat())["dataPoints"]
    assert points == [_point(days_ago(1), ok=5, agents=0)]


def test_weekly_points_are_dated_on_the_iso_week_monday(api, seed):
    s = seed([("alpha", 20, "token_issuances", 1)])
    frm, to = days_ago(27), days_ago(0)
    points = api.ok("token-trends", s.token, from_=frm.isoformat(), to=to.isoformat(), granularity="week")
    mondays = [p["date"] for p in points["dataPoints"]]
    expected, monday = [], week_start(frm)
    while monday <= to:
        expected.append(monday.isoformat())
        monday += timedelta(days=7)
    assert mondays == expected
    assert all(date.fromisoformat(d).weekday() == 0 for d in mondays)


def test_weekly_sums_equal_daily_sums(api, seed):
    rows = [
        (name, n, metric, (n * 7 + len(name)) % 11 + 1)
        for n in range(0, 40, 3)
        for name in ("a", "bb")
        for metric in ("token_issuances", "token_failures")
    ]
    s = seed(rows)
    params = {"from_": days_ago(45).isoformat(), "to": days_ago(0).isoformat()}
    daily = api.ok("token-trends", s.token, **params)["dataPoints"]
    weekly = api.ok("token-trends", s.token, granularity="week", **params)["dataPoints"]
    for field in ("totalIssuances", "successfulIssuances", "failedIssuances"):
        assert sum(p[field] for p in weekly) == sum(p[field] for p in daily)
    by_week: dict[str, int] = {}
    for p in daily:
        key = week_start(date.fromisoformat(p["date"])).isoformat()
        by_week[key] = by_week.get(key, 0) + p["totalIssuances"]
    assert {p["date"]: p["totalIssuances"] for p in weekly} == by_week


def test_a_week_counts_an_agent_once(api, seed):
    monday = week_start(days_ago(14))
    offset = (days_ago(0) - monday).days
    s = seed([("alpha", offset, "token_issuances", 1), ("alpha", offset - 1, "token_failures", 1)])
    points = api.ok(
        "token-trends",
        s.token,
        from_=monday.isoformat(),
        to=(monday + timedelta(days=6)).isoformat(),
        granularity="week",
    )["dataPoints"]
    assert points == [_point(monday, ok=1, failed=1, agents=1)]


@pytest.mark.parametrize("start_offset", [0, 3, 6], ids=["monday", "thursday", "sunday"])
def test_only_days_inside_the_period_count_in_a_partial_week(api, seed, start_offset):
    monday = week_start(days_ago(21))
    start = monday + timedelta(days=start_offset)
    before_start = (days_ago(0) - monday).days  # the Monday itself, outside the period unless offset 0
    s = seed(
        [("alpha", before_start, "token_issuances", 100), ("alpha", (days_ago(0) - start).days, "token_issuances", 1)]
    )
    points = api.ok(
        "token-trends",
        s.token,
        from_=start.isoformat(),
        to=(monday + timedelta(days=6)).isoformat(),
        granularity="week",
    )["dataPoints"]
    expected = 101 if start_offset == 0 else 1
    assert points == [_point(monday, ok=expected, agents=1)]


def test_empty_tenant_gets_zero_points(api, seed):
    s = seed([])
    points = api.ok("token-trends", s.token, from_=days_ago(2).isoformat(), to=days_ago(0).isoformat())["dataPoints"]
    assert points == [_point(days_ago(n)) for n in (2, 1, 0)]
