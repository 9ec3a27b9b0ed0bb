"""What a demanding tenant notices in the Analytics tab, in headless Chromium on the demo host."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import log_in, wait_for_charts

pytestmark = pytest.mark.browser


def _open_tab(page: Any, demo_url: str, query: str = "", width: int = 1280) -> Any:
    page.set_viewport_size({"width": width, "height": 900 if width > 600 else 844})
    log_in(page, demo_url, "acme")
    page.goto(f"{demo_url}/analytics/{query}")
    wait_for_charts(page, count=3)
    for panel in ("insights", "summary", "rotations"):
        page.wait_for_selector(f"#aa-body-{panel}[data-state]")
    return page


def _agent_value(page: Any, name: str) -> str:
    return page.evaluate(
        "(name) => Array.from(document.querySelectorAll('#aa-agent option')).find(o => o.textContent === name).value",
        name,
    )


def test_the_heatmap_legend_of_one_agent_has_distinct_increasing_ranges_that_match_the_cells(
    page: Any, demo_url: str, console_errors: list[str]
) -> None:
    _open_tab(page, demo_url)
    page.select_option("#aa-agent", _agent_value(page, "lead-scorer"))
    page.wait_for_url(re.compile(r"agentId="))
    wait_for_charts(page, count=3)
    assert page.locator("#aa-body-heatmap").get_attribute("data-agents-shown") == "1"
    items = page.locator("#aa-body-heatmap .aa-legend-item").all_inner_texts()[1:]  # after "0"
    ranges = []
    for text in items:
        bounds = [int(n.replace(",", "")) for n in re.split(r"\u2013", text.strip())]
        assert len(bounds) in (1, 2) and bounds == sorted(set(bounds)), text  # never "5–5" or "0–0"
        ranges.append((bounds[0], bounds[-1]))
    assert len(ranges) >= 2  # a working agent's month is more than one colour
    assert ranges[0][0] == 1 and all(b[0] == a[1] + 1 for a, b in zip(ranges, ranges[1:], strict=False))
    colours = page.evaluate(
        """() => {
            const swatches = Array.from(document.querySelectorAll('#aa-body-heatmap .aa-legend-item .aa-swatch'))
                .map(s => getComputedStyle(s).backgroundColor);
            const probe = document.createElement('span');
            document.body.appendChild(probe);
            const cells = window.analyticsCharts.get('aa-heatmap-canvas').data.datasets[0].backgroundColor
                .map(c => { probe.style.color = c; return getComputedStyle(probe).color; });
            probe.remove();
            return {swatches, cells: Array.from(new Set(cells))};
        }"""
    )
    # Every range's colour is on some cell, and every cell's colour is in the legend ("0" included:
    # a day with tokens but no API calls).
    zero, *steps = colours["swatches"]
    assert len(set(steps)) == len(steps)
    assert set(colours["cells"]) - {zero} == set(steps)
    assert console_errors == []
