"""The trends chart's overlay of the previous period: the URL state and the alignment by position."""

from __future__ import annotations

from datetime import date

from agentidp_analytics_plugin.ui.controls import canonical_query, read_controls
from agentidp_analytics_plugin.ui.presenters import trends_context

TODAY = date(2026, 11, 26)


def _trends(start: str, dates: list[str], totals: list[int]) -> dict:
    points = [
        {"date": d, "totalIssuances": t, "successfulIssuances": t, "failedIssuances": 0, "uniqueAgents": 1}
        for d, t in zip(dates, totals, strict=True)
    ]
    return {"granularity": "week", "period": {"from": start, "to": dates[-1]}, "dataPoints": points}


def test_compare_previous_is_read_from_the_url_and_written_back():
    controls = read_controls({"range": "7", "compare": "previous"}, TODAY)
    assert controls.compare
    assert canonical_query(controls) == {"range": "7", "compare": "previous"}


def test_any_other_compare_value_is_no_overlay_and_leaves_the_url():
    controls = read_controls({"range": "7", "compare": "yes"}, TODAY)
    assert not controls.compare and "compare" not in canonical_query(controls)


def test_the_previous_period_is_aligned_bucket_by_bucket_and_cut_to_the_periods_length():
    current = _trends("2026-11-02", ["2026-11-02", "2026-11-09"], [5, 6])
    current["previous"] = _trends("2026-10-19", ["2026-10-13", "2026-10-20", "2026-10-27"], [1, 2, 3])
    overlay = trends_context(current)["payload"]["previous"]
    assert (overlay["labels"], overlay["data"]) == (["2026-10-13", "2026-10-20"], [1, 2])
    assert overlay["label"] == "Total issuances, previous period (2026-10-19 to 2026-10-27)"


def test_a_previous_period_with_a_bucket_less_leaves_the_last_one_empty():
    current = _trends("2026-11-02", ["2026-11-02", "2026-11-09", "2026-11-16"], [5, 6, 7])
    current["previous"] = _trends("2026-10-19", ["2026-10-19", "2026-10-26"], [1, 2])
    context = trends_context(current)
    assert context["payload"]["previous"]["data"] == [1, 2, None]
    assert [before["date"] if before else None for _, before in context["rows"]] == ["2026-10-19", "2026-10-26", None]


def test_without_the_overlay_the_payload_has_no_previous_series():
    assert "previous" not in trends_context(_trends("2026-11-02", ["2026-11-02"], [5]))["payload"]
