"""The tab's state in the query string: presets, dates, agent, granularity, sort, comparison, and the links back.

The URL is the state: every control change pushes a canonical query string,
so a link reproduces the view and the back button works. Values stay raw
strings here; the JSON API's own parameter rules (:mod:`..params`) validate
them when a panel asks the service.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from ..params import (
    AGENT_ACTIVITY,
    CALL_PATTERNS,
    DIRECTIONS,
    INSIGHTS,
    ROTATION_DEFAULT_DIRECTIONS,
    ROTATION_DEFAULT_SORT,
    ROTATION_SORT_KEYS,
    ROTATIONS,
    TOKEN_TRENDS,
    USAGE_SUMMARY,
)

PRESETS: tuple[str, ...] = ("7", "30", "90")
#: ISO 8601's basic form of a date (20260301): what a phone's digits-only keypad can type.
_COMPACT_DATE = re.compile(r"^([0-9]{4})([0-9]{2})([0-9]{2})\Z")
DEFAULT_PRESET = "30"
GRANULARITIES = ("day", "week")
#: The value of ``compare`` that overlays the preceding period on the trends chart.
COMPARE_PREVIOUS = "previous"


@dataclass(frozen=True)
class Panel:
    """One panel of the tab and the service endpoint that fills it."""

    name: str
    title: str
    endpoint: str


PANELS: tuple[Panel, ...] = (
    Panel("insights", "Insights", INSIGHTS),
    Panel("summary", "Summary", USAGE_SUMMARY),
    Panel("heatmap", "Agent activity", AGENT_ACTIVITY),
    Panel("trends", "Token trends", TOKEN_TRENDS),
    Panel("rotations", "Credential rotations", ROTATIONS),
    Panel("calls", "Call patterns", CALL_PATTERNS),
)
PANEL_BY_NAME: dict[str, Panel] = {p.name: p for p in PANELS}
PANEL_NAMES = frozenset(PANEL_BY_NAME)


@dataclass(frozen=True)
class Controls:
    """The tab's controls as the user set them (raw strings, validated later by params)."""

    range: str
    from_: str
    to: str
    agent_id: str
    granularity: str
    sort: str = ROTATION_DEFAULT_SORT
    direction: str = ROTATION_DEFAULT_DIRECTIONS[ROTATION_DEFAULT_SORT]
    show_all: bool = False
    #: The trends chart overlays the preceding period of equal length (``compare=previous``).
    compare: bool = False


def read_controls(args: Mapping[str, str], today: date) -> Controls:
    """Read the query string of the tab or a fragment.

    A preset (``range=7|30|90``) wins over dates: "last N days" is the N
    complete UTC days ending yesterday. Today is not aggregated until the next
    night's run, so ending a preset today would end every chart in a drop to
    zero that is not real. N days exactly, so the 90-day preset fits the
    heatmap's 90-day limit. Dates without a preset mean a custom range. An
    unknown sort column or direction falls back to the default order.
    """
    chosen = args.get("range", "")
    if chosen not in PRESETS and chosen != "custom":
        chosen = "custom" if (args.get("from") or args.get("to")) else DEFAULT_PRESET
    if chosen in PRESETS:
        last_complete = today - timedelta(days=1)
        from_, to = (last_complete - timedelta(days=int(chosen) - 1)).isoformat(), last_complete.isoformat()
    else:
        from_, to = typed_date(args.get("from", "")), typed_date(args.get("to", ""))
    sort = args.get("sort", "")
    if sort not in ROTATION_SORT_KEYS:
        sort = ROTATION_DEFAULT_SORT
    direction = args.get("dir", "")
    if direction not in DIRECTIONS:
        direction = ROTATION_DEFAULT_DIRECTIONS[sort]
    return Controls(
        range=chosen,
        from_=from_,
        to=to,
        agent_id=args.get("agentId", "").strip(),
        granularity=args.get("granularity", "day").strip() or "day",
        sort=sort,
        direction=direction,
        show_all=args.get("all") == "1",
        compare=args.get("compare") == COMPARE_PREVIOUS,
    )


def typed_date(raw: str) -> str:
    """A date as typed into the tab's text inputs, in ISO's extended form (YYYY-MM-DD) when it is one.

    The inputs are plain text (a date input shows the browser's locale, the
    page shows ISO dates), and a phone's numeric keypad has no hyphen, so the
    basic form 20260301 reads as 2026-03-01. Anything else stays as typed,
    for the parameter rules to refuse with their INVALID_DATE.
    """
    text = raw.strip()
    compact = _COMPACT_DATE.match(text)
    return "-".join(compact.groups()) if compact else text


def api_args(controls: Controls, endpoint: str) -> dict[str, str]:
    """The controls as the query parameters of ``endpoint`` (empty ones left out, so defaults apply).

    The agent filter goes to every panel: the summary cards and the trends
    narrow to the agent like the heatmap and the rotation table.
    """
    args = {"from": controls.from_, "to": controls.to, "agentId": controls.agent_id}
    if endpoint == TOKEN_TRENDS:
        args["granularity"] = controls.granularity
    if endpoint == ROTATIONS:
        args.update(sort=controls.sort, dir=controls.direction)
    return {k: v for k, v in args.items() if v}


def canonical_query(controls: Controls, **overrides: Any) -> dict[str, str]:
    """The shortest query string that reproduces the view: what the URL bar shows."""
    c = replace(controls, **overrides) if overrides else controls
    query: dict[str, str] = {"range": c.range}
    if c.range == "custom":
        query.update({k: v for k, v in (("from", c.from_), ("to", c.to)) if v})
    if c.agent_id:
        query["agentId"] = c.agent_id
    if c.granularity != "day":
        query["granularity"] = c.granularity
    if (c.sort, c.direction) != (ROTATION_DEFAULT_SORT, ROTATION_DEFAULT_DIRECTIONS[ROTATION_DEFAULT_SORT]):
        query.update(sort=c.sort, dir=c.direction)
    if c.show_all:
        query["all"] = "1"
    if c.compare:
        query["compare"] = COMPARE_PREVIOUS
    return query


@dataclass(frozen=True)
class Links:
    """How fragments link back: to other fragments, and to the page URL to push."""

    fragment_url: Callable[..., str]
    push_url: Callable[..., str] | None
    #: Appended to element ids, so several copies of a panel can share a page (the gallery).
    suffix: str = ""
    #: Where each panel's "Download CSV" link points (None: no link, as in the gallery's mock panels).
    export_url: Callable[..., str] | None = None
