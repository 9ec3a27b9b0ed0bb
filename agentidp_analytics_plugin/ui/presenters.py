"""Presenters: the service's JSON shapes turned into what the panel templates need.

Pure functions of plain data (no Flask, no database), so they are tested
directly and the gallery renders through them exactly like the tab.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from ..params import ROTATION_DEFAULT_DIRECTIONS
from .controls import Controls, Links, canonical_query

#: Colour scale of the heatmap: a neutral grey for "no calls", then viridis
#: (perceptually even and readable with every common colour-vision
#: deficiency) from light to dark. analytics.js and analytics.css hold the
#: same list; the legend is rendered from the bins computed here.
HEATMAP_STEPS = 6


#: What a rise of each compared figure means: usage moving is neither good nor bad news,
#: more rotations is good hygiene, more token failures is trouble.
RISE_MEANS = {
    "totalApiCalls": "neutral",
    "totalTokenIssuances": "neutral",
    "totalCredentialRotations": "good",
    "activeAgentCount": "neutral",
    "averageDailyApiCalls": "neutral",
    "peakDailyApiCalls": "neutral",
    "totalTokenFailures": "bad",
}
_OPPOSITE = {"good": "bad", "bad": "good", "neutral": "neutral"}


def delta(field: str, comparison: Mapping[str, Any] | None) -> dict[str, str] | None:
    """A card's change against the previous period: arrow, text, and a tone by meaning, not by sign.

    ``tone`` is ``good``, ``bad`` or ``neutral`` (colour follows it); the arrow
    and the signed text say the direction, so colour is never the only cue.
    """
    if not comparison:
        return None
    pct = comparison["changePercent"].get(field)
    days = (date.fromisoformat(comparison["period"]["to"]) - date.fromisoformat(comparison["period"]["from"])).days + 1
    versus = f"vs the previous {days} days"
    if pct is None:
        return {"direction": "up", "arrow": "▲", "text": "new", "tone": RISE_MEANS[field], "versus": versus}
    if pct == 0:
        return {"direction": "flat", "arrow": "→", "text": "no change", "tone": "neutral", "versus": versus}
    rise = pct > 0
    tone = RISE_MEANS[field] if rise else _OPPOSITE[RISE_MEANS[field]]
    return {
        "direction": "up" if rise else "down",
        "arrow": "▲" if rise else "▼",
        "text": f"{pct:+.1f}%",
        "tone": tone,
        "versus": versus,
    }


def summary_context(payload: Mapping[str, Any]) -> dict[str, Any]:
    s = payload["summary"]
    comparison = payload.get("comparison")
    cards = [
        {"field": "totalApiCalls", "label": "API calls", "value": s["totalApiCalls"], "hint": None},
        {"field": "totalTokenIssuances", "label": "Tokens issued", "value": s["totalTokenIssuances"], "hint": None},
        {
            "field": "totalCredentialRotations",
            "label": "Credential rotations",
            "value": s["totalCredentialRotations"],
            "hint": None,
        },
        {"field": "activeAgentCount", "label": "Active agents", "value": s["activeAgentCount"], "hint": None},
        {
            "field": "averageDailyApiCalls",
            "label": "Average API calls per day",
            "value": s["averageDailyApiCalls"],
            "hint": None,
        },
        {
            "field": "peakDailyApiCalls",
            "label": "Peak API calls in a day",
            "value": s["peakDailyApiCalls"],
            "hint": f"on {s['peakDate']}" if s.get("peakDate") else None,
        },
    ]
    for card in cards:
        card["delta"] = delta(card["field"], comparison)
        card["sub"] = None
    if comparison:
        # Failures ride on the tokens card (six cards lay out evenly): the one figure whose rise is bad.
        cards[1]["sub"] = {
            "label": "failed requests",
            "value": comparison["totalTokenFailures"],
            "delta": delta("totalTokenFailures", comparison),
        }
    empty = not any(s[k] for k in ("totalApiCalls", "totalTokenIssuances", "totalCredentialRotations"))
    return {"cards": cards, "period": payload["period"], "empty": empty}


#: How many findings the panel lists before "and N more" (the API and the CSV have them all).
INSIGHTS_SHOWN = 10
_INSIGHT_TITLES = {
    "dormant_agent": "Dormant agent",
    "tenant_failure_rate": "Failure rate high",
    "failure_spike": "Failure spike",
    "call_error_spike": "Failed calls spike",
    "overdue_rotation": "Rotation overdue",
    "usage_drop": "Usage drop",
    "usage_surge": "Usage surge",
    "new_agents": "New agents",
}


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def insight_sentence(kind: str, n: Mapping[str, Any]) -> str:
    """What a finding's numbers say, in one sentence."""
    if kind == "dormant_agent":
        if n["lastActive"] is None:
            return f"Registered but never active; no activity for at least {n['dormantDays']} days."
        return f"No activity since {n['lastActive']} ({_plural(n['daysInactive'], 'day')})."
    if kind == "failure_spike":
        return (
            f"{_plural(n['tokenFailures'], 'failed token request')} on {n['date']}; "
            f"its usual day has {n['baselineMedian']:g} (median of the {n['baselineDays']} days before)."
        )
    if kind == "tenant_failure_rate":
        return (
            f"{n['failureRate']:.1%} of token requests failed on {n['date']} "
            f"({n['tokenFailures']:,} of {n['tokenRequests']:,}); usually {n['baselineMedianRate']:.1%} "
            f"(median of the {n['baselineDays']} days before with requests)."
        )
    if kind == "call_error_spike":
        return (
            f"{_plural(n['failedCalls'], 'failed API call')} on {n['date']} ({n['clientErrors']:,} 4xx, "
            f"{n['serverErrors']:,} 5xx); its usual day has {n['baselineMedian']:g} "
            f"(median of the {n['baselineDays']} days before)."
        )
    if kind == "overdue_rotation":
        if n["lastRotation"] is None:
            return f"Credentials never rotated (due every {n['staleDays']} days)."
        return (
            f"Credentials last rotated on {n['lastRotation']}, {_plural(n['daysSinceRotation'], 'day')} ago "
            f"(due every {n['staleDays']} days)."
        )
    if kind in ("usage_drop", "usage_surge"):
        return (
            f"{_plural(n['apiCalls'], 'API call')} in this period against {n['previousApiCalls']:,} "
            f"in the {n['previousPeriod']['from']} to {n['previousPeriod']['to']} before it."
        )
    return f"{_plural(n['count'], 'agent')} first active in this period."


def insights_context(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The insights panel: the first findings, most severe first, each with its sentence and link."""
    found = payload["insights"]
    findings = [
        {
            "kind": f["kind"],
            "severity": f["severity"],
            "title": _INSIGHT_TITLES[f["kind"]],
            "agents": ", ".join(a["agentName"] or "(unnamed)" for a in f["agents"]) or "All agents",
            "sentence": insight_sentence(f["kind"], f["numbers"]),
            "link": f.get("link"),
        }
        for f in found[:INSIGHTS_SHOWN]
    ]
    return {
        "findings": findings,
        "more": max(0, len(found) - INSIGHTS_SHOWN),
        "empty": not found,
        "period": payload["period"],
    }


def _period_dates(period: Mapping[str, str]) -> list[date]:
    start, end = date.fromisoformat(period["from"]), date.fromisoformat(period["to"])
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _round_up(value: int, unit: int) -> int:
    return -(-value // unit) * unit


def _rounded(highs: list[int], unit: int) -> list[int]:
    """``highs`` rounded up to ``unit`` (never past the largest value), repeats dropped."""
    maximum = highs[-1]
    out: list[int] = []
    for high in highs:
        high = min(_round_up(high, unit), maximum)
        if not out or high > out[-1]:
            out.append(high)
    return out


def heatmap_bins(values: Iterable[int], steps: int = HEATMAP_STEPS) -> list[tuple[int, int]]:
    """Inclusive (low, high) ranges of the colour steps above zero, from 1 to the largest value.

    The bounds are quantiles of the non-zero cells, so each colour holds a
    similar share of them: with even-width steps, one very busy agent puts
    every other cell in the lowest colour and the heatmap shows nothing.
    Every range holds at least one cell's value, and ranges never repeat.
    Few distinct values (one agent, a quiet tenant) get one range each. The
    bounds are rounded to two significant digits for a readable legend, but
    only as far as that loses no step: one agent's 1,003 to 1,060 calls a day
    would all round to 1,100, one colour for every cell.
    """
    nonzero = sorted(v for v in values if v > 0)
    if not nonzero:
        return []
    distinct = sorted(set(nonzero))
    if len(distinct) <= steps:
        highs = distinct
    else:
        count = len(nonzero)
        exact = sorted({nonzero[math.ceil(i * count / steps) - 1] for i in range(1, steps + 1)})
        unit = 10 ** max(0, len(str(exact[-1])) - 2)
        while unit > 1 and len(_rounded(exact, unit)) < len(exact):
            unit //= 10
        highs = _rounded(exact, unit)
    lows = [1, *(h + 1 for h in highs[:-1])]
    return list(zip(lows, highs, strict=True))


def colour_steps(count: int, steps: int = HEATMAP_STEPS) -> list[int]:
    """The colour step (1 to ``steps``) of each of ``count`` ranges: spread over the whole scale.

    Two ranges take the lightest and the darkest colour rather than two
    neighbouring yellows; a single range takes a middle colour that stands
    out from the grey of "no calls".
    """
    if count <= 1:
        return [steps // 2 + 1] if count else []
    return [round(1 + i * (steps - 1) / (count - 1)) for i in range(count)]


def heatmap_context(activity: Mapping[str, Any], controls: Controls, limit: int) -> dict[str, Any]:
    """Rows (busiest first, capped at ``limit`` unless "show all"), cells and the legend."""
    dates = _period_dates(activity["period"])
    index = {d.isoformat(): i for i, d in enumerate(dates)}
    agents = list(activity["agents"])
    shown = agents if controls.show_all else agents[:limit]
    cells: list[list[int]] = []
    rows = []
    for a, agent in enumerate(shown):
        calls = [0] * len(dates)
        totals = {"apiCalls": 0, "tokenIssuances": 0, "credentialRotations": 0}
        for day in agent["dailyActivity"]:
            d = index.get(day["date"])
            if d is None:
                continue
            cells.append([a, d, day["apiCalls"], day["tokenIssuances"], day["credentialRotations"]])
            calls[d] = day["apiCalls"]
            for key in totals:
                totals[key] += day[key]
        rows.append({"id": agent["agentId"], "name": agent["agentName"], "calls": calls, "totals": totals})
    bins = heatmap_bins(c[2] for c in cells)
    colours = colour_steps(len(bins))
    payload = {
        "dates": [d.isoformat() for d in dates],
        "agents": [r["name"] for r in rows],
        "cells": cells,
        "bins": [high for _, high in bins],
        "steps": colours,
    }
    return {
        "rows": rows,
        "dates": dates,
        "bins": list(zip(bins, colours, strict=True)),
        "payload": payload,
        "total": activity.get("agentCount", len(agents)),
        "shown": len(shown),
        "limit": limit,
        "show_all": controls.show_all,
        "empty": not agents,
        "period": activity["period"],
    }


SERIES = (
    ("totalIssuances", "Total issuances"),
    ("successfulIssuances", "Successful"),
    ("failedIssuances", "Failed"),
    ("uniqueAgents", "Unique agents"),
)


#: The previous period's series drawn over the chart (dashed and lighter), and its label.
PREVIOUS_SERIES = ("totalIssuances", "Total issuances, previous period")


def trends_context(trends: Mapping[str, Any]) -> dict[str, Any]:
    """The chart's payload and the table's rows; with ``previous``, the preceding period aligned by position.

    Bucket i of the previous period lies under bucket i of the period (day 1
    under day 1): the two periods have the same length, though by weeks one
    may have a bucket more, which is left out (the table and the CSV of that
    period's own answer have it).
    """
    points = trends["dataPoints"]
    payload: dict[str, Any] = {
        "granularity": trends["granularity"],
        "labels": [p["date"] for p in points],
        "series": [{"key": key, "label": label, "data": [p[key] for p in points]} for key, label in SERIES],
    }
    previous = trends.get("previous")
    before: list[Mapping[str, Any] | None] = []
    if previous is not None:
        before = [*previous["dataPoints"][: len(points)]]
        before += [None] * (len(points) - len(before))
        key, label = PREVIOUS_SERIES
        payload["previous"] = {
            "key": key,
            "label": f"{label} ({previous['period']['from']} to {previous['period']['to']})",
            "labels": [p["date"] if p else None for p in before],
            "data": [p[key] if p else None for p in before],
        }
    empty = not any(p["totalIssuances"] or p["uniqueAgents"] for p in points)
    if previous is not None:
        empty = empty and not any(p["totalIssuances"] or p["uniqueAgents"] for p in previous["dataPoints"])
    return {
        "points": points,
        "series": SERIES,
        "payload": payload,
        "granularity": trends["granularity"],
        "empty": empty,
        "period": trends["period"],
        "previous": previous["period"] if previous is not None else None,
        "rows": list(zip(points, before, strict=True)) if previous is not None else [(p, None) for p in points],
    }


ROTATION_COLUMNS = (
    ("agent", "Agent"),
    ("rotations", "Rotations in period"),
    ("last_rotation", "Last rotation"),
    ("mean_days", "Mean days between rotations"),
    ("stale", "Status"),
)


def rotations_context(table: Mapping[str, Any], controls: Controls, links: Links) -> dict[str, Any]:
    """The rotation table's rows (already sorted by the service) and its sortable column headers."""
    rows = table["agents"]
    columns = []
    for key, label in ROTATION_COLUMNS:
        active = key == controls.sort
        direction = ("desc" if controls.direction == "asc" else "asc") if active else ROTATION_DEFAULT_DIRECTIONS[key]
        params = canonical_query(controls, sort=key, direction=direction, show_all=False)
        columns.append(
            {
                "key": key,
                "label": label,
                "aria_sort": ("ascending" if controls.direction == "asc" else "descending") if active else None,
                "url": links.fragment_url("rotations", **params),
                "push": links.push_url(**params) if links.push_url else None,
                "next": "ascending" if direction == "asc" else "descending",
            }
        )
    return {
        "rows": rows,
        "columns": columns,
        "stale_days": table["staleDays"],
        "stale_count": sum(1 for r in rows if r["stale"]),
        "empty": not rows,
        "period": table["period"],
    }


#: Endpoints drawn in the call-pattern chart (the table lists every one).
CHART_ENDPOINTS = 10

#: The call-pattern table's columns: key, heading, and whether it sorts as text.
CALL_COLUMNS = (
    ("endpoint", "Endpoint", True),
    ("calls", "Calls", False),
    ("share", "Share of calls", False),
    ("clientErrors", "4xx", False),
    ("serverErrors", "5xx", False),
    ("errorRate", "Error rate", False),
    ("meanLatencyMs", "Mean latency (ms)", False),
    ("topAgent", "Busiest agent", True),
)


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.1f}%"


def call_patterns_context(patterns: Mapping[str, Any]) -> dict[str, Any]:
    """Table rows (busiest endpoint first, as the service orders them) and the chart's top endpoints.

    The chart stacks each endpoint's calls as successful (neither 4xx nor 5xx),
    client errors and server errors, so the error share reads off each bar.
    """
    endpoints = list(patterns["endpoints"])
    rows = []
    for e in endpoints:
        top = e["topAgents"][0] if e["topAgents"] else None
        rows.append(
            {
                "method": e["method"],
                "route": e["route"],
                "calls": e["calls"],
                "clientErrors": e["clientErrors"],
                "serverErrors": e["serverErrors"],
                "errorRate": e["errorRate"],
                "errorRateText": _percent(e["errorRate"]),
                "share": e["share"],
                "shareText": _percent(e["share"]),
                "meanLatencyMs": e["meanLatencyMs"],
                "topAgent": (top["agentName"] or top["agentId"]) if top else "",
                "topAgentCalls": top["calls"] if top else 0,
            }
        )
    charted = endpoints[:CHART_ENDPOINTS]
    payload = {
        "labels": [f"{e['method']} {e['route']}" for e in charted],
        "series": [
            {
                "key": "ok",
                "label": "Successful",
                "data": [e["calls"] - e["clientErrors"] - e["serverErrors"] for e in charted],
            },
            {"key": "clientErrors", "label": "Client errors (4xx)", "data": [e["clientErrors"] for e in charted]},
            {"key": "serverErrors", "label": "Server errors (5xx)", "data": [e["serverErrors"] for e in charted]},
        ],
        "errorRates": [e["errorRate"] for e in charted],
    }
    noisiest = max(endpoints, key=lambda e: (e["errorRate"], e["calls"]), default=None)
    return {
        "rows": rows,
        "columns": CALL_COLUMNS,
        "payload": payload,
        "charted": len(charted),
        "total_calls": patterns["totalCalls"],
        "noisiest": noisiest if noisiest and noisiest["errorRate"] > 0 else None,
        "empty": not endpoints,
        "period": patterns["period"],
    }
