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
