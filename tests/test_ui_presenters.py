"""The pure parts of the tab: reading the controls, URLs, colour steps."""

from __future__ import annotations

from datetime import date

import pytest
from werkzeug.datastructures import MultiDict

from agentidp_analytics_plugin.params import AGENT_ACTIVITY, ROTATIONS, TOKEN_TRENDS, USAGE_SUMMARY
from agentidp_analytics_plugin.ui import controls as ui
from agentidp_analytics_plugin.ui.presenters import HEATMAP_STEPS, colour_steps, heatmap_bins

TODAY = date(2026, 3, 31)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({}, ("30", "2026-03-01", "2026-03-30")),
        ({"range": "7"}, ("7", "2026-03-24", "2026-03-30")),
        ({"range": "90"}, ("90", "2025-12-31", "2026-03-30")),
        ({"range": "7", "from": "2025-01-01", "to": "2025-01-31"}, ("7", "2026-03-24", "2026-03-30")),
        ({"from": "2026-01-01", "to": "2026-01-31"}, ("custom", "2026-01-01", "2026-01-31")),
        ({"range": "custom", "from": "2026-01-01"}, ("custom", "2026-01-01", "")),
        ({"range": "bogus"}, ("30", "2026-03-01", "2026-03-30")),
    ],
    ids=["default", "preset-7", "preset-90", "preset-beats-dates", "dates-mean-custom", "custom-open-end", "bogus"],
)
def test_read_controls_resolves_the_period(args: dict, expected: tuple[str, str, str]) -> None:
    c = ui.read_controls(MultiDict(args), TODAY)
    assert (c.range, c.from_, c.to) == expected


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("2026-03-01", "2026-03-01"),
        ("  2026-03-01 ", "2026-03-01"),
        ("20260301", "2026-03-01"),
        ("01.03.2026", "01.03.2026"),
        ("202603011", "202603011"),
        ("", ""),
    ],
    ids=["iso", "spaces", "basic-form", "german-left-for-the-rules", "nine-digits", "empty"],
)
def test_typed_dates_read_as_iso_extended_form(typed: str, read: str) -> None:
    c = ui.read_controls(MultiDict({"range": "custom", "from": typed, "to": typed}), TODAY)
    assert (c.from_, c.to) == (read, read)


def test_presets_end_yesterday_because_today_is_not_aggregated_yet() -> None:
    assert ui.read_controls(MultiDict({"range": "7"}), TODAY).to == "2026-03-30"


def test_presets_hold_exactly_n_days_so_90_fits_the_heatmap_limit() -> None:
    c = ui.read_controls(MultiDict({"range": "90"}), TODAY)
    assert (date.fromisoformat(c.to) - date.fromisoformat(c.from_)).days + 1 == 90


@pytest.mark.parametrize(
    ("args", "sort", "direction"),
    [
        ({}, "stale", "desc"),
        ({"sort": "agent"}, "agent", "asc"),
        ({"sort": "rotations", "dir": "asc"}, "rotations", "asc"),
        ({"sort": "name; DROP TABLE agents"}, "stale", "desc"),
        ({"sort": "agent", "dir": "sideways"}, "agent", "asc"),
    ],
    ids=["default", "column-default-dir", "explicit", "unknown-key", "unknown-dir"],
)
def test_sort_parameters_are_whitelisted(args: dict, sort: str, direction: str) -> None:
    c = ui.read_controls(MultiDict(args), TODAY)
    assert (c.sort, c.direction) == (sort, direction)


@pytest.mark.parametrize(
    ("args", "query"),
    [
        ({}, {"range": "30"}),
        ({"from": "2026-01-01", "to": "2026-01-31"}, {"range": "custom", "from": "2026-01-01", "to": "2026-01-31"}),
        ({"range": "7", "granularity": "week"}, {"range": "7", "granularity": "week"}),
        ({"agentId": "abc", "sort": "agent"}, {"range": "30", "agentId": "abc", "sort": "agent", "dir": "asc"}),
    ],
    ids=["default", "custom", "week", "agent-and-sort"],
)
def test_canonical_query_is_the_shortest_shareable_form(args: dict, query: dict) -> None:
    assert ui.canonical_query(ui.read_controls(MultiDict(args), TODAY)) == query


def test_api_args_leave_out_empty_values_so_api_defaults_apply() -> None:
    c = ui.read_controls(MultiDict({"range": "custom", "from": "2026-01-01"}), TODAY)
    assert ui.api_args(c, USAGE_SUMMARY) == {"from": "2026-01-01"}


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        (USAGE_SUMMARY, {"from", "to", "agentId"}),
        (AGENT_ACTIVITY, {"from", "to", "agentId"}),
        (TOKEN_TRENDS, {"from", "to", "agentId", "granularity"}),
        (ROTATIONS, {"from", "to", "agentId", "sort", "dir"}),
    ],
    ids=["summary", "activity", "trends", "rotations"],
)
def test_every_panel_asks_with_the_agent_filter(endpoint: str, expected: set[str]) -> None:
    args = {"range": "7", "agentId": "6f9619ff-8b86-d011-b42d-00c04fc964ff", "granularity": "week", "sort": "agent"}
    assert set(ui.api_args(ui.read_controls(MultiDict(args), TODAY), endpoint)) == expected


@pytest.mark.parametrize(
    ("values", "bins"),
    [
        ([], []),
        ([0, 0], []),
        ([1, 2, 3], [(1, 1), (2, 2), (3, 3)]),
        (list(range(1, 601)), [(1, 100), (101, 200), (201, 300), (301, 400), (401, 500), (501, 600)]),
        ([5] * 10 + [1234], [(1, 5), (6, 1234)]),
    ],
    ids=["none", "zeros", "tiny", "uniform", "one-outlier"],
)
def test_heatmap_bins_follow_the_values(values: list[int], bins: list[tuple[int, int]]) -> None:
    assert heatmap_bins(values) == bins


@pytest.mark.parametrize(
    ("values", "bins"),
    [
        ([0] * 30, []),
        ([7] * 30, [(1, 7)]),
        ([1234] * 30, [(1, 1234)]),
        ([0] * 20 + [3] * 10, [(1, 3)]),
        ([5] * 20 + [6] * 10, [(1, 5), (6, 6)]),
        ([10] * 29 + [1_000_000], [(1, 10), (11, 1_000_000)]),
        ([0, 0, 1, 1, 2], [(1, 1), (2, 2)]),
        (
            [1000 + 2 * i for i in range(30)],
            [(1, 1010), (1011, 1020), (1021, 1030), (1031, 1040), (1041, 1050), (1051, 1058)],
        ),
        ([100 + i % 10 for i in range(30)], [(1, 101), (102, 103), (104, 104), (105, 106), (107, 108), (109, 109)]),
        (
            [12_000 + 100 * i for i in range(30)],
            [(1, 12_400), (12_401, 12_900), (12_901, 13_400), (13_401, 13_900), (13_901, 14_400), (14_401, 14_900)],
        ),
    ],
    ids=[
        "all-zero",
        "all-equal",
        "all-equal-large",
        "one-value-and-idle-days",
        "two-distinct",
        "two-distinct-far-apart",
        "tiny",
        "one-agent-narrow-spread",
        "one-agent-ten-values",
        "one-agent-large-counts",
    ],
)
def test_heatmap_bins_for_one_agent_and_degenerate_values(values: list[int], bins: list[tuple[int, int]]) -> None:
    assert heatmap_bins(values) == bins


@pytest.mark.parametrize(
    "values",
    [
        [7] * 30,
        [5] * 20 + [6] * 10,
        [1000 + 2 * i for i in range(30)],
        [100 + i % 10 for i in range(30)],
        [1, 2, 3, 4, 5, 6, 7, 100],
    ],
    ids=["all-equal", "two-distinct", "narrow-spread", "ten-values", "one-spike"],
)
def test_every_heatmap_bin_holds_a_cell_and_the_bins_increase(values: list[int]) -> None:
    bins = heatmap_bins(values)
    assert all(any(low <= v <= high for v in values) for low, high in bins)
    assert [high for _, high in bins] == sorted({high for _, high in bins})


def test_one_agent_with_a_narrow_spread_still_gets_several_colours() -> None:
    # One agent's 1,000 to 1,058 calls a day: rounding to 1,100 would paint every cell alike.
    assert len(heatmap_bins([1000 + 2 * i for i in range(30)])) == HEATMAP_STEPS


@pytest.mark.parametrize(
    ("count", "steps"),
    [(0, []), (1, [4]), (2, [1, 6]), (3, [1, 4, 6]), (6, [1, 2, 3, 4, 5, 6])],
    ids=["none", "one", "two", "three", "all"],
)
def test_few_bins_take_colours_spread_over_the_scale(count: int, steps: list[int]) -> None:
    assert colour_steps(count) == steps


def test_one_busy_agent_does_not_wash_out_the_others() -> None:
    values = [10 + (i % 90) for i in range(900)] + [50_000]
    bins = heatmap_bins(values)
    in_lowest = sum(1 for v in values if v <= bins[0][1])
    assert len(bins) == HEATMAP_STEPS
    assert in_lowest <= 2 * len(values) / HEATMAP_STEPS


@pytest.mark.parametrize(
    "values",
    [[1], [7] * 3, list(range(1, 51)), [1, 999, 999, 999], [3, 123_456, 17, 17, 17, 4_000, 250]],
    ids=["one", "constant", "range", "skewed-high", "mixed"],
)
def test_heatmap_bins_are_contiguous_from_one_to_the_maximum(values: list[int]) -> None:
    bins = heatmap_bins(values)
    assert bins[0][0] == 1 and bins[-1][1] == max(values) and len(bins) <= HEATMAP_STEPS
    assert all(b[0] == a[1] + 1 and a[0] <= a[1] for a, b in zip(bins, bins[1:], strict=False))


def _endpoint(method: str, route: str, calls: int, client: int, server: int) -> dict:
    return {
        "method": method,
        "route": route,
        "calls": calls,
        "clientErrors": client,
        "serverErrors": server,
        "errorRate": round((client + server) / calls, 4),
        "share": 0.0,
        "meanLatencyMs": 1.0,
        "topAgents": [],
        "daily": [],
    }


def test_call_pattern_chart_splits_each_bar_into_successful_4xx_and_5xx():
    from agentidp_analytics_plugin.ui.presenters import call_patterns_context

    patterns = {
        "period": {"from": "2026-01-01", "to": "2026-01-02"},
        "totalCalls": 10,
        "endpoints": [_endpoint("GET", "/a", 10, 2, 1)],
    }
    series = {s["key"]: s["data"] for s in call_patterns_context(patterns)["payload"]["series"]}
    assert series == {"ok": [7], "clientErrors": [2], "serverErrors": [1]}


def test_call_pattern_chart_draws_the_ten_busiest_and_the_table_lists_all():
    from agentidp_analytics_plugin.ui.presenters import call_patterns_context

    endpoints = [_endpoint("GET", f"/r{i}", 100 - i, 0, 0) for i in range(14)]
    ctx = call_patterns_context(
        {"period": {"from": "2026-01-01", "to": "2026-01-01"}, "totalCalls": 1, "endpoints": endpoints}
    )
    assert len(ctx["payload"]["labels"]) == 10 and len(ctx["rows"]) == 14
    assert ctx["payload"]["labels"][0] == "GET /r0"


def test_call_pattern_caption_names_the_endpoint_with_the_highest_error_rate():
    from agentidp_analytics_plugin.ui.presenters import call_patterns_context

    endpoints = [_endpoint("GET", "/busy", 100, 1, 0), _endpoint("POST", "/token", 10, 0, 4)]
    ctx = call_patterns_context(
        {"period": {"from": "2026-01-01", "to": "2026-01-01"}, "totalCalls": 110, "endpoints": endpoints}
    )
    assert (ctx["noisiest"]["method"], ctx["noisiest"]["route"]) == ("POST", "/token")
