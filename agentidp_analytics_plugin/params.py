"""Query parameters of the analytics endpoints: parsing, defaults, limits.

One function, :func:`parse_query`, turns raw query arguments into a
normalised :class:`Query` or raises :class:`~.errors.AnalyticsError` with the
spec's code. The JSON API and the dashboard fragments both call it, so the
two can never disagree on what a valid period is. The normalised query is
also what the cache key hashes, so ``?from=2026-03-01`` and the same request
with the default ``to`` spelled out share one cache entry.

Decisions (see DESIGN.md): days are UTC, ranges are inclusive, a range
"exceeds N days" when it holds more than N days, ``to`` may not be after
today, the default period is today-30 .. today.

Every endpoint name here is also the cache key's ``{endpoint}`` and the
``endpoint`` label of the plugin's metrics. ``credential-rotations`` is the
tab's rotation table (no JSON API route yet): at most 365 days, like the
summary it sits next to, because an agent's rotations in the period and the
mean gap between them are read over a year at most; its last rotation is
looked up before the period too, so the table's cost does not grow with it.
Its ``sort`` and ``dir`` choose the order the database returns the rows in.
``call-patterns`` (per-endpoint counts of the host's API calls) holds at most
90 days, like agent-activity: its answer has a daily series per endpoint.
``insights`` (ranked findings of the whole tenant, so no ``agentId``) holds
at most 90 days too: each of its days with failures is compared with the 28
days before it.
``agentId`` narrows every endpoint to one of the tenant's agents: the spec
names it for agent-activity; usage-summary, token-trends and the rotation
table take it as a documented extension (same 400 ``INVALID_AGENT_ID`` and
404 ``AGENT_NOT_FOUND`` rules, same response fields), so the tab's agent
filter means the same on every panel.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from . import errors
from .errors import AnalyticsError

USAGE_SUMMARY = "usage-summary"
AGENT_ACTIVITY = "agent-activity"
TOKEN_TRENDS = "token-trends"
ROTATIONS = "credential-rotations"
CALL_PATTERNS = "call-patterns"
INSIGHTS = "insights"
#: The JSON API's endpoints (routes under the plugin's prefix), and every endpoint name the service answers.
API_ENDPOINTS = (USAGE_SUMMARY, AGENT_ACTIVITY, TOKEN_TRENDS, CALL_PATTERNS, INSIGHTS)
ENDPOINTS = (*API_ENDPOINTS, ROTATIONS)

#: The longest period each endpoint accepts, in days (spec "Constraints"; the rotation table's is ours).
MAX_DAYS: dict[str, int] = {
    USAGE_SUMMARY: 365,
    AGENT_ACTIVITY: 90,
    TOKEN_TRENDS: 365,
    ROTATIONS: 365,
    CALL_PATTERNS: 90,
    INSIGHTS: 90,
}
DEFAULT_DAYS_BACK = 30
GRANULARITIES = ("day", "week")

#: Columns the rotation table sorts by, and the direction each sorts in when
#: first chosen: the useful end first (the stalest agents, the most rotations).
ROTATION_SORT_KEYS = ("agent", "rotations", "last_rotation", "mean_days", "stale")
ROTATION_DEFAULT_SORT = "stale"
ROTATION_DEFAULT_DIRECTIONS = {
    "agent": "asc",
    "rotations": "desc",
    "last_rotation": "asc",
    "mean_days": "desc",
    "stale": "desc",
}
DIRECTIONS = ("asc", "desc")
#: Representations of every answer: ``format=`` names one, else ``Accept`` chooses (JSON unless it prefers CSV).
FORMATS = ("json", "csv")
_MEDIA_TYPES = {"application/json": "json", "text/csv": "csv"}

#: Which parameters each endpoint reads; anything else is ignored, as HTTP APIs usually do.
_ALLOWED: dict[str, tuple[str, ...]] = {
    USAGE_SUMMARY: ("from", "to", "agentId"),
    AGENT_ACTIVITY: ("from", "to", "agentId"),
    TOKEN_TRENDS: ("from", "to", "granularity", "agentId"),
    ROTATIONS: ("from", "to", "agentId", "sort", "dir"),
    CALL_PATTERNS: ("from", "to", "agentId"),
    INSIGHTS: ("from", "to"),
}
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")


@dataclass(frozen=True)
class Query:
    """A validated request for one endpoint, all defaults applied."""

    endpoint: str
    from_: date
    to: date
    agent_id: uuid.UUID | None = None
    granularity: str = "day"
    #: The rotation table's order (None for the other endpoints).
    sort: str | None = None
    direction: str | None = None

    @property
    def days(self) -> int:
        return (self.to - self.from_).days + 1

    def normalised(self) -> dict[str, Any]:
        """The parameters that define the answer, as plain strings (for the cache key)."""
        out: dict[str, Any] = {
            "from": self.from_.isoformat(),
            "to": self.to.isoformat(),
            "agentId": str(self.agent_id) if self.agent_id else None,
        }
        if self.endpoint == TOKEN_TRENDS:
            out["granularity"] = self.granularity
        if self.endpoint == ROTATIONS:
            out.update(sort=self.sort, dir=self.direction)
        return out


def parse_query(args: Mapping[str, Any], endpoint: str, today: date) -> Query:
    """Validate ``args`` (e.g. ``request.args``) for ``endpoint`` against ``today`` (UTC).

    Raises :class:`AnalyticsError` (400) with ``INVALID_DATE`` for a malformed
    date, ``INVALID_AGENT_ID`` for a malformed agentId, ``INVALID_PARAMETER``
    for an unknown sort order, ``INVALID_GRANULARITY`` and ``INVALID_DATE_RANGE``
    as the spec says.
    """
    if endpoint not in _ALLOWED:
        raise ValueError(f"Unknown analytics endpoint {endpoint!r}; expected one of {ENDPOINTS}.")
    to = _date(args, "to") or today
    # With ``to`` defaulted this is the spec's "30 days ago"; with ``to`` given,
    # the 30 days before it, so ``?to=`` alone never yields from > to.
    from_ = _date(args, "from") or _days_before(to, DEFAULT_DAYS_BACK)
    check_range(endpoint, from_, to, today)
    agent_id = _agent_id(args) if "agentId" in _ALLOWED[endpoint] else None
    granularity = _granularity(args) if endpoint == TOKEN_TRENDS else "day"
    if endpoint != ROTATIONS:
        return Query(endpoint, from_, to, agent_id, granularity)
    sort = _choice(args, "sort", ROTATION_SORT_KEYS) or ROTATION_DEFAULT_SORT
    direction = _choice(args, "dir", DIRECTIONS) or ROTATION_DEFAULT_DIRECTIONS[sort]
    return Query(endpoint, from_, to, agent_id, granularity, sort, direction)


def response_format(args: Mapping[str, Any], accept: Any = None) -> str:
    """``json`` or ``csv``: ``format`` when given (400 ``INVALID_FORMAT`` otherwise), else by ``Accept``.

    ``accept`` is werkzeug's ``request.accept_mimetypes``; JSON wins ties and
    ``*/*``, and an ``Accept`` naming neither still gets JSON (never a 406).
    """
    raw = _single(args, "format")
    if raw is not None:
        if raw not in FORMATS:
            raise AnalyticsError(400, errors.INVALID_FORMAT, f"'format' must be one of {', '.join(FORMATS)}.")
        return raw
    if accept is None:
        return "json"
    best = accept.best_match(list(_MEDIA_TYPES), default="application/json")
    return _MEDIA_TYPES[best]


def check_range(endpoint: str, from_: date, to: date, today: date) -> None:
    """The spec's period rules, shared by every caller that builds dates itself."""
    _check_order(from_, to, today)
    limit = MAX_DAYS[endpoint]
    if (to - from_).days + 1 > limit:
        raise AnalyticsError(
            400, errors.INVALID_DATE_RANGE, f"The period may hold at most {limit} days for {endpoint}."
        )


def check_shared(args: Mapping[str, Any], today: date) -> None:
    """The rules every endpoint applies alike: well-formed dates in order, not after today, a UUID agentId.

    Raises the same :class:`AnalyticsError` as :func:`parse_query`; the length
    limit, which differs per endpoint, is left to each. The tab asks this
    first, so a mistake every panel would report is reported once.
    """
    to = _date(args, "to") or today
    _check_order(_date(args, "from") or _days_before(to, DEFAULT_DAYS_BACK), to, today)
    _agent_id(args)


def _check_order(from_: date, to: date, today: date) -> None:
    if from_ > to:
        raise AnalyticsError(400, errors.INVALID_DATE_RANGE, f"'from' ({from_}) must not be after 'to' ({to}).")
    if to > today:
        raise AnalyticsError(400, errors.INVALID_DATE_RANGE, f"'to' ({to}) must not be after today ({today}, UTC).")


def _days_before(day: date, days: int) -> date:
    try:
        return day - timedelta(days=days)
    except OverflowError:  # 'to' in the first days of year 1
        return date.min


def _single(args: Mapping[str, Any], name: str) -> str | None:
    getlist = getattr(args, "getlist", None)
    values = getlist(name) if getlist else ([args[name]] if name in args else [])
    if len(values) > 1:
        raise AnalyticsError(400, errors.INVALID_PARAMETER, f"'{name}' may be given once.")
    return values[0] if values else None


def _date(args: Mapping[str, Any], name: str) -> date | None:
    raw = _single(args, name)
    if raw is None:
        return None
    if not isinstance(raw, str) or not _DATE.match(raw):
        raise AnalyticsError(400, errors.INVALID_DATE, f"'{name}' must be a date as YYYY-MM-DD.")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise AnalyticsError(400, errors.INVALID_DATE, f"'{name}' is not a calendar date: {raw!r}.") from None


def _agent_id(args: Mapping[str, Any]) -> uuid.UUID | None:
    raw = _single(args, "agentId")
    if raw is None:
        return None
    if not isinstance(raw, str) or not _UUID.match(raw):
        raise AnalyticsError(400, errors.INVALID_AGENT_ID, "'agentId' must be a UUID.")
    return uuid.UUID(raw)


def _choice(args: Mapping[str, Any], name: str, choices: tuple[str, ...]) -> str | None:
    raw = _single(args, name)
    if raw is None:
        return None
    if raw not in choices:
        raise AnalyticsError(400, errors.INVALID_PARAMETER, f"'{name}' must be one of {', '.join(choices)}.")
    return raw


def _granularity(args: Mapping[str, Any]) -> str:
    raw = _single(args, "granularity")
    if raw is None:
        return "day"
    if raw not in GRANULARITIES:
        raise AnalyticsError(400, errors.INVALID_GRANULARITY, "'granularity' must be 'day' or 'week'.")
    return raw
