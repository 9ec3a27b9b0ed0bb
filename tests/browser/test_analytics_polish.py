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


@pytest.mark.parametrize("width", [1280, 390])
def test_panel_titles_keep_one_line_and_csv_links_sit_at_the_right_edge(
    page: Any, demo_url: str, width: int, console_errors: list[str]
) -> None:
    _open_tab(page, demo_url, width=width)
    headers = page.evaluate(
        """() => Array.from(document.querySelectorAll('.aa-panel-header')).map(header => {
            const range = document.createRange();
            range.selectNodeContents(header.querySelector('h2'));
            const link = header.querySelector('.aa-download').getBoundingClientRect();
            return {title: header.querySelector('h2').textContent, lines: range.getClientRects().length,
                    gap: header.getBoundingClientRect().right - link.right};
        })"""
    )
    assert len(headers) == 6
    for header in headers:
        # The idle "Loading…" beside them took room: two-line titles on a phone, links mid-header.
        assert header["lines"] == 1 and header["gap"] < 1, header
    assert console_errors == []


def test_links_and_buttons_are_tap_targets_of_at_least_24_px_on_a_phone(
    page: Any, demo_url: str, console_errors: list[str]
) -> None:
    _open_tab(page, demo_url, width=390)
    small = page.evaluate(
        """() => Array.from(document.querySelectorAll(
                '#agentidp-analytics a, #agentidp-analytics button, #agentidp-analytics select, '
                + '#agentidp-analytics summary, #agentidp-analytics input[data-aa-date], '
                + '#agentidp-analytics .aa-segmented label'))
            .filter(el => el.getClientRects().length)
            .map(el => ({text: el.textContent.trim().slice(0, 30), box: el.getBoundingClientRect()}))
            .filter(t => t.box.width < 24 || t.box.height < 24)
            .map(t => t.text + ' ' + Math.round(t.box.width) + 'x' + Math.round(t.box.height))"""
    )
    assert small == []  # "Download CSV" and "Show" were 20 px high
    assert console_errors == []


@pytest.mark.parametrize("width", [1280, 390])
def test_summary_values_line_up_across_each_row_of_cards(
    page: Any, demo_url: str, width: int, console_errors: list[str]
) -> None:
    _open_tab(page, demo_url, width=width)
    rows = page.evaluate(
        """() => {
            const rows = {};
            for (const card of document.querySelectorAll('#aa-body-summary .aa-card')) {
                const top = Math.round(card.getBoundingClientRect().top);
                const value = Math.round(card.querySelector('.aa-card-value').getBoundingClientRect().top);
                (rows[top] = rows[top] || []).push(value);
            }
            return Object.values(rows);
        }"""
    )
    assert sum(len(r) for r in rows) == 6
    for values in rows:
        assert len(set(values)) == 1, rows  # "Average API calls per day" wraps; its value stays level
    assert console_errors == []


def test_call_table_on_a_phone_wraps_agent_names_beside_whole_labels(
    page: Any, demo_url: str, console_errors: list[str]
) -> None:
    _open_tab(page, demo_url, width=390)
    cells = page.evaluate(
        """() => Array.from(document.querySelectorAll('#aa-body-calls tbody td.aa-name')).map(td => {
            const value = td.querySelector('.aa-cell-value').getBoundingClientRect();
            const count = td.querySelector('.aa-muted');
            return {cell: td.getBoundingClientRect().height, value: value.height,
                    countLines: count ? count.getClientRects().length : 1};
        })"""
    )
    assert cells
    for cell in cells:
        # The label ("Busiest agent") broke letter by letter, taller than the name beside it.
        assert cell["cell"] <= cell["value"] + 5, cell
        assert cell["countLines"] == 1, cell  # "(97,707)" broke after every character
    assert console_errors == []


def test_call_table_at_1280_px_keeps_routes_whole_and_agent_names_left_aligned(
    page: Any, demo_url: str, console_errors: list[str]
) -> None:
    _open_tab(page, demo_url)
    routes = page.evaluate(
        """() => Array.from(document.querySelectorAll('#aa-body-calls tbody .aa-endpoint')).map(cell => {
            const code = cell.querySelector('code');
            const method = cell.querySelector('.aa-method').getBoundingClientRect();
            const dy = Math.abs(code.getBoundingClientRect().top - method.top);
            return [code.textContent, code.getClientRects().length, dy];
        })"""
    )
    # ".../me/cr" + "edentials" no more, nor the method on a line above its route.
    assert routes and all(lines == 1 and dy < 4 for _, lines, dy in routes), routes
    aligns = page.eval_on_selector_all(
        "#aa-body-calls tbody td.aa-name", "cells => cells.map(c => getComputedStyle(c).textAlign)"
    )
    assert set(aligns) == {"left"}
    assert console_errors == []


def test_call_chart_labels_fit_the_canvas_on_a_phone(page: Any, demo_url: str, console_errors: list[str]) -> None:
    _open_tab(page, demo_url, width=390)
    axis = page.evaluate(
        """() => {
            const chart = window.analyticsCharts.get('aa-calls-canvas');
            const y = chart.scales.y;
            const ctx = chart.ctx;
            ctx.save();
            ctx.font = Chart.helpers.toFont(y.options.ticks.font).string;
            const left = y.getLabelItems().map(item => item.options.translation[0] - ctx.measureText(item.label).width);
            ctx.restore();
            return {left, rotation: chart.scales.x.labelRotation, count: y.getLabelItems().length};
        }"""
    )
    assert axis["count"] == 4
    assert min(axis["left"]) >= 0, axis  # "GET /api/v1/agents/me/credentials" was cut at the canvas edge
    assert axis["rotation"] == 0
    assert console_errors == []


def test_an_insights_show_link_sits_on_the_findings_first_line_on_a_phone(
    page: Any, demo_url: str, console_errors: list[str]
) -> None:
    _open_tab(page, demo_url, width=390)
    items = page.evaluate(
        """() => Array.from(document.querySelectorAll('#aa-body-insights .aa-insight')).map(item => {
            const link = item.querySelector('.aa-insight-link').getBoundingClientRect();
            const title = item.querySelector('.aa-insight-title').getBoundingClientRect();
            return {dy: Math.abs(link.top - title.top), right: item.getBoundingClientRect().right - link.right};
        })"""
    )
    assert items
    for item in items:
        assert item["dy"] < 8 and item["right"] < 16, item  # not alone under the severity, bottom left
    assert console_errors == []


@pytest.mark.parametrize("width", [1280, 390])
def test_scroll_regions_are_tab_stops_only_while_they_scroll(
    page: Any, demo_url: str, width: int, console_errors: list[str]
) -> None:
    _open_tab(page, demo_url, width=width)
    page.click("#aa-body-heatmap details.aa-table-alt summary")  # a wide table, 30 days of columns
    page.wait_for_timeout(200)
    regions = page.evaluate(
        """() => Array.from(document.querySelectorAll('#agentidp-analytics .aa-scroll[role=region]')).map(r => ({
            label: r.getAttribute('aria-label'), scrolls: r.scrollWidth > r.clientWidth + 1,
            stop: r.getAttribute('tabindex') === '0'}))"""
    )
    assert any(r["scrolls"] for r in regions) and any(not r["scrolls"] for r in regions), regions
    for region in regions:
        assert region["stop"] == region["scrolls"], region
    assert console_errors == []


@pytest.mark.parametrize("width", [1280, 390])
def test_the_filters_end_with_their_last_control_not_an_empty_row(
    page: Any, demo_url: str, width: int, console_errors: list[str]
) -> None:
    _open_tab(page, demo_url, width=width)
    space = page.evaluate(
        """() => {
            const form = document.getElementById('aa-controls');
            const bottoms = Array.from(form.querySelectorAll('label, select, button, input:not([type=radio])'))
                .filter(c => c.getClientRects().length && getComputedStyle(c).visibility === 'visible')
                .map(c => c.getBoundingClientRect().bottom);
            const style = getComputedStyle(form);
            return form.getBoundingClientRect().bottom - parseFloat(style.paddingBottom)
                - parseFloat(style.borderBottomWidth) - Math.max(...bottoms);
        }"""
    )
    assert space < 2, space  # the hidden Apply button and the idle "Updating…" left a 40 px row on a phone
    assert console_errors == []


def test_every_panel_says_its_period_the_rotation_table_too(
    page: Any, demo_url: str, console_errors: list[str]
) -> None:
    _open_tab(page, demo_url)
    notes = page.evaluate(
        """() => Array.from(document.querySelectorAll('.aa-panel-body')).map(body =>
            [body.dataset.panel, Array.from(body.querySelectorAll('.aa-period time')).map(t => t.textContent)])"""
    )
    assert len(notes) == 6
    periods = {panel: tuple(times) for panel, times in notes}
    assert len(periods["rotations"]) == 2  # the one panel without its period, beside five with
    assert len(set(periods.values())) == 1, periods
    assert console_errors == []
