"""CSV export of every analytics answer: a header row, then one row per data point, streamed.

The CSV is a second representation of the same answer the JSON API gives
(same parameters, limits, access checks and cache entry); only the last step
differs. Each endpoint flattens its answer into rows here:

* ``usage-summary``: a row of the period's figures, then the preceding period's
  and the change in percent (the ``period`` column names each);
* ``agent-activity``: one row per agent and active day (sparse, like the JSON);
* ``token-trends``: one row per day or week of the period;
* ``call-patterns``: one row per endpoint and day of the period;
* ``credential-rotations`` (the tab's table): one row per agent;
* ``insights``: one row per finding and agent (one with empty agent cells for a
  tenant-wide finding), its numbers as a JSON object.

Rows are written one at a time into a generator, so a long period never sits
in memory twice (as the answer and as one large string). Text cells that a
spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``,
tab or carriage return) get a leading ``'`` (OWASP's advice against CSV
injection); everything else, commas, quotes and newlines in agent names
included, is quoted by :mod:`csv` and reads back exactly.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

#: What a text cell may not start with, lest a spreadsheet evaluate it.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

Row = list[Any]
Flatten = Callable[[Mapping[str, Any]], Iterable[Row]]


def neutralise(cell: Any) -> Any:
    """``cell``, with a ``'`` in front when it is text a spreadsheet would treat as a formula."""
    if isinstance(cell, str) and cell.startswith(FORMULA_TRIGGERS):
        return "'" + cell
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    return cell


#: The summary's figures, in the CSV's column order (after ``from`` and ``to``).
SUMMARY_FIGURES = (
    "totalApiCalls",
    "totalTokenIssuances",
    "totalCredentialRotations",
    "activeAgentCount",
    "averageDailyApiCalls",
    "peakDailyApiCalls",
    "peakDate",
    "totalTokenFailures",
)


def _summary(data: Mapping[str, Any]) -> Iterable[Row]:
    """The period's row, then (with a comparison) the preceding period's and the change in percent.

    The last column says which row is which (``current``, ``previous``,
    ``changePercent``), so the first row and its columns read as they always
    have. The change row has no dates and no peak day; a change from 0 to
    more has no percentage (an empty cell), as in the JSON.
    """
    comparison = data.get("comparison")
    current = {**data["summary"], "totalTokenFailures": comparison["totalTokenFailures"] if comparison else None}
    yield [data["period"]["from"], data["period"]["to"], *(current[k] for k in SUMMARY_FIGURES), "current"]
    if not comparison:
        return
    previous, before = comparison["summary"], comparison["period"]
    yield [before["from"], before["to"], *(previous.get(k) for k in SUMMARY_FIGURES), "previous"]
    change = comparison["changePercent"]
    yield ["", "", *(change.get(k) for k in SUMMARY_FIGURES), "changePercent"]


def _activity(data: Mapping[str, Any]) -> Iterable[Row]:
    for agent in data["agents"]:
        for day in agent["dailyActivity"]:
            yield [
                agent["agentId"],
                agent["agentName"],
                day["date"],
                day["apiCalls"],
                day["tokenIssuances"],
                day["credentialRotations"],
            ]


def _trends(data: Mapping[str, Any]) -> Iterable[Row]:
    for p in data["dataPoints"]:
        yield [p["date"], p["totalIssuances"], p["successfulIssuances"], p["failedIssuances"], p["uniqueAgents"]]


def _call_patterns(data: Mapping[str, Any]) -> Iterable[Row]:
    for e in data["endpoints"]:
        for day in e["daily"]:
            yield [e["method"], e["route"], day["date"], day["calls"], day["clientErrors"], day["serverErrors"]]


def _rotations(data: Mapping[str, Any]) -> Iterable[Row]:
    for a in data["agents"]:
        yield [a["agentId"], a["agentName"], a["rotations"], a["lastRotation"], a["meanDaysBetween"], a["stale"]]


def _insights(data: Mapping[str, Any]) -> Iterable[Row]:
    for f in data["insights"]:
        numbers = json.dumps(f["numbers"], sort_keys=True, separators=(",", ":"))
        # A tenant-wide finding (no agent) is one row with empty agent cells.
        for agent in f["agents"] or [{"agentId": "", "agentName": ""}]:
            yield [f["kind"], f["severity"], agent["agentId"], agent["agentName"], numbers, f.get("link", "")]


#: Per endpoint: the header row and how its answer becomes rows.
LAYOUTS: dict[str, tuple[list[str], Flatten]] = {
    "usage-summary": (["from", "to", *SUMMARY_FIGURES, "period"], _summary),
    "agent-activity": (
        ["agentId", "agentName", "date", "apiCalls", "tokenIssuances", "credentialRotations"],
        _activity,
    ),
    "token-trends": (
        ["date", "totalIssuances", "successfulIssuances", "failedIssuances", "uniqueAgents"],
        _trends,
    ),
    "call-patterns": (["method", "route", "date", "calls", "clientErrors", "serverErrors"], _call_patterns),
    "credential-rotations": (
        ["agentId", "agentName", "rotations", "lastRotation", "meanDaysBetween", "stale"],
        _rotations,
    ),
    "insights": (["kind", "severity", "agentId", "agentName", "numbers", "link"], _insights),
}


def register(endpoint: str, header: list[str], flatten: Flatten) -> None:
    """Add the layout of an endpoint defined elsewhere (its module owns its answer's shape)."""
    LAYOUTS[endpoint] = (header, flatten)


def csv_lines(endpoint: str, data: Mapping[str, Any]) -> Iterator[str]:
    """The CSV of ``data`` (an answer of ``endpoint``), one line at a time, CRLF-terminated (RFC 4180)."""
    header, flatten = LAYOUTS[endpoint]
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(row: Iterable[Any]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([neutralise(cell) for cell in row])
        return buffer.getvalue()

    yield line(header)
    for row in flatten(data):
        yield line(row)


def filename(endpoint: str, data: Mapping[str, Any]) -> str:
    """``<endpoint>_<from>_<to>.csv``: what a browser saves the download as."""
    period = data.get("period") or {}
    return f"{endpoint}_{period.get('from', '')}_{period.get('to', '')}.csv"
