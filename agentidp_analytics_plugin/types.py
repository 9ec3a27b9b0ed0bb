"""The JSON shapes of the analytics API (the spec's TypeScript interfaces, in Python).

The service returns exactly these plain dicts; the JSON API serialises them
unchanged and the dashboard fragments render them. ``dataCompleteThrough`` is
the one field the plugin adds to the spec's shapes: the last UTC day up to
which the nightly roll-up is complete (None before the first run), because
today is never aggregated before tomorrow's run.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

# ``from`` is a Python keyword: the functional syntax is the only way to name it.
#: The inclusive period, both days as YYYY-MM-DD.
Period = TypedDict("Period", {"from": str, "to": str})


class Summary(TypedDict):
    totalApiCalls: int
    totalTokenIssuances: int
    totalCredentialRotations: int
    activeAgentCount: int
    averageDailyApiCalls: int
    peakDailyApiCalls: int
    peakDate: str | None


class UsageSummary(TypedDict):
    tenantId: str
    period: Period
    summary: Summary
    dataCompleteThrough: str | None
    #: Added to the spec's shape: the preceding period of equal length (see ``queries.comparison``).
    comparison: NotRequired[dict[str, Any] | None]


class DailyActivity(TypedDict):
    date: str
    apiCalls: int
    tokenIssuances: int
    credentialRotations: int


class AgentActivity(TypedDict):
    agentId: str
    agentName: str
    dailyActivity: list[DailyActivity]


class AgentActivityResponse(TypedDict):
    tenantId: str
    period: Period
    agents: list[AgentActivity]
    dataCompleteThrough: str | None
    #: Only when the caller asked for the top agents (the tab): how many agents had activity.
    agentCount: NotRequired[int]


class TokenTrendPoint(TypedDict):
    date: str
    totalIssuances: int
    successfulIssuances: int
    failedIssuances: int
    uniqueAgents: int


class TokenTrendsResponse(TypedDict):
    tenantId: str
    period: Period
    granularity: Literal["day", "week"]
    dataPoints: list[TokenTrendPoint]
    dataCompleteThrough: str | None


class DailyAggregate(TypedDict):
    """One row of ``analytics_daily_aggregates`` as the spec's ``DailyAggregate``."""

    tenantId: str
    agentId: str | None
    date: str
    metricType: str
    count: int


class RotationRow(TypedDict):
    """One agent's line of the credential rotation table."""

    agentId: str
    agentName: str
    rotations: int
    lastRotation: str | None
    meanDaysBetween: float | None
    stale: bool


class CredentialRotationsResponse(TypedDict):
    """The rotation table of a period: every agent of the tenant, in the requested order.

    ``stale`` means no rotation in the ``staleDays`` days up to the period's end.
    """

    tenantId: str
    period: Period
    staleDays: int
    agents: list[RotationRow]
    dataCompleteThrough: str | None


class CallPatternAgent(TypedDict):
    """One of an endpoint's busiest agents (``agentName`` is "" for an agent the host deleted)."""

    agentId: str
    agentName: str
    calls: int


class CallPatternDay(TypedDict):
    date: str
    calls: int
    clientErrors: int
    serverErrors: int


class CallPatternEndpoint(TypedDict):
    """One endpoint (method + route template) of the period; rates and share are fractions of 1."""

    method: str
    route: str
    calls: int
    clientErrors: int
    serverErrors: int
    errorRate: float
    share: float
    meanLatencyMs: float
    topAgents: list[CallPatternAgent]
    daily: list[CallPatternDay]


class CallPatternsResponse(TypedDict):
    """Per-endpoint API call patterns of a period, busiest endpoint first."""

    tenantId: str
    period: Period
    totalCalls: int
    endpoints: list[CallPatternEndpoint]
    dataCompleteThrough: str | None
