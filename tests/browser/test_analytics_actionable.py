"""The actionable parts of the Analytics tab in headless Chromium: insights, summary deltas, CSV downloads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import log_in, wait_for_charts

pytestmark = pytest.mark.browser


@pytest.fixture
def acme(page: Any, demo_url: str) -> Any:
    log_in(page, demo_url, "acme")
    page.goto(f"{demo_url}/analytics/")
    wait_for_charts(page, count=3)
    page.wait_for_selector("#aa-body-insights[data-state=ready]")
    return page


def test_the_insights_panel_shows_the_demos_findings_and_links_into_the_tab(
    acme: Any, console_errors: list[str]
) -> None:
    acme.wait_for_selector("#aa-body-insights[data-state=ready]")
    spike = acme.locator("#aa-body-insights .aa-insight[data-kind=failure_spike]", has_text="lead-scorer")
    assert "40 failed token requests" in spike.inner_text()
    dormant = acme.locator("#aa-body-insights .aa-insight[data-kind=dormant_agent]").all_inner_texts()
    assert any("legacy-ftp-bridge" in text for text in dormant)
    assert acme.locator("#aa-body-insights .aa-insight[data-kind=overdue_rotation]").count() > 0
    spike.locator("a.aa-insight-link").click()
    acme.wait_for_url(re.compile(r"range=custom.*agentId="))
    wait_for_charts(acme, count=3)
    assert acme.locator("#aa-agent option:checked").inner_text() == "lead-scorer"
    assert console_errors == []


def test_summary_cards_show_deltas_coloured_by_meaning(acme: Any) -> None:
    deltas = acme.locator("#aa-body-summary .aa-delta")
    assert deltas.count() >= 7  # six cards and the failed requests under the tokens card
    colours = acme.evaluate(
        """() => {
            const probe = (cls) => {
                const el = document.createElement('span');
                el.className = 'aa-delta ' + cls;
                document.querySelector('#aa-body-summary').appendChild(el);
                const colour = getComputedStyle(el).color;
                el.remove();
                return colour;
            };
            return [probe('aa-delta--good'), probe('aa-delta--bad'), probe('aa-delta--neutral')];
        }"""
    )
    assert len(set(colours)) == 3
    for i in range(deltas.count()):
        tone = deltas.nth(i).get_attribute("data-tone")
        colour = deltas.nth(i).evaluate("el => getComputedStyle(el).color")
        assert colour == colours[("good", "bad", "neutral").index(tone)]


def test_download_csv_saves_the_panels_data(acme: Any, tmp_path: Path) -> None:
    with acme.expect_download() as download_info:
        acme.click("#aa-panel-trends a.aa-download")
    download = download_info.value
    assert re.fullmatch(r"token-trends_\d{4}-\d\d-\d\d_\d{4}-\d\d-\d\d\.csv", download.suggested_filename)
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    lines = target.read_text().splitlines()
    assert lines[0] == "date,totalIssuances,successfulIssuances,failedIssuances,uniqueAgents"
    assert len(lines) == 1 + 30


def _overlay(page: Any) -> dict[str, Any]:
    """The trends chart's previous-period dataset, and the tooltip title of its first point."""
    return page.evaluate(
        """() => {
            const chart = window.analyticsCharts.get('aa-trends-canvas');
            const previous = chart.data.datasets.filter(d => d.aaPrevious);
            if (previous.length !== 1) return null;
            const title = chart.options.plugins.tooltip.callbacks.title.call(chart.tooltip, [{dataIndex: 0}]);
            return {label: previous[0].label, data: previous[0].data, dash: previous[0].borderDash, title: title,
                    current: chart.data.labels};
        }"""
    )


def _previous_answer(page: Any, demo_url: str, token: str, label: str, granularity: str) -> list[int]:
    """totalIssuances of the API's token-trends for the period the overlay's legend names."""
    start, end = re.search(r"\((\d{4}-\d\d-\d\d) to (\d{4}-\d\d-\d\d)\)", label).groups()
    response = page.request.get(
        f"{demo_url}/analytics/token-trends?from={start}&to={end}&granularity={granularity}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status == 200
    return [p["totalIssuances"] for p in response.json()["dataPoints"]]


def test_the_trends_chart_overlays_the_previous_period_from_the_keyboard(
    acme: Any, demo_url: str, demo_token: str, console_errors: list[str]
) -> None:
    assert _overlay(acme) is None
    acme.focus("#aa-trends-compare")
    acme.keyboard.press("Space")
    acme.wait_for_selector("#aa-body-trends[data-compare=previous]")
    wait_for_charts(acme, count=3)
    acme.wait_for_url(re.compile(r"compare=previous"))
    overlay = _overlay(acme)
    assert overlay["data"] == _previous_answer(acme, demo_url, demo_token, overlay["label"], "day")
    assert overlay["dash"] and len(overlay["data"]) == len(overlay["current"]) == 30
    assert overlay["title"] == [overlay["current"][0], "Previous period: " + overlay["label"].split("(")[1][:10]]
    assert acme.evaluate("() => document.activeElement.id") == "aa-trends-compare"
    assert console_errors == []


def test_a_link_with_the_overlay_reproduces_it_by_week(page: Any, demo_url: str, demo_token: str) -> None:
    log_in(page, demo_url, "acme")
    page.goto(f"{demo_url}/analytics/?range=90&granularity=week&compare=previous")
    page.wait_for_selector("#aa-body-trends[data-compare=previous]")
    wait_for_charts(page, count=3)
    assert page.is_checked("#aa-trends-compare")
    overlay = _overlay(page)
    weeks = len(overlay["current"])
    expected = _previous_answer(page, demo_url, demo_token, overlay["label"], "week")[:weeks]
    assert overlay["data"] == expected + [None] * (weeks - len(expected))  # week i under week i


def test_unticking_the_overlay_removes_it_and_a_later_filter_change_keeps_it_off(acme: Any) -> None:
    acme.goto(acme.url.split("?")[0] + "?range=30&compare=previous")
    acme.wait_for_selector("#aa-body-trends[data-compare=previous]")
    acme.uncheck("#aa-trends-compare")
    acme.wait_for_selector("#aa-body-trends:not([data-compare])")
    acme.wait_for_url(lambda url: "compare=" not in url)
    acme.check("#aa-trends-compare")
    acme.wait_for_selector("#aa-body-trends[data-compare=previous]")
    acme.click("label[for=aa-range-7]")  # the filter form carries the switch: the overlay stays
    acme.wait_for_url(re.compile(r"range=7.*compare=previous"))
    acme.wait_for_selector("#aa-body-trends[data-compare=previous][data-points='7']")
