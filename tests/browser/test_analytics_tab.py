"""The Analytics tab in headless Chromium: the demo host, then the gallery."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import chart_info, log_in, wait_for_charts

pytestmark = pytest.mark.browser

XSS_NAME = "<img src=x onerror=alert(1)>"


def _period_days(page: Any, panel: str) -> int:
    start, end = page.locator(f"#aa-body-{panel} .aa-period time").all_inner_texts()
    return (date.fromisoformat(end) - date.fromisoformat(start)).days + 1


def _rotation_names(page: Any) -> list[str]:
    return page.locator("#aa-body-rotations tbody th[scope=row]").all_inner_texts()


@pytest.fixture
def acme(page: Any, demo_url: str) -> Any:
    log_in(page, demo_url, "acme")
    page.goto(f"{demo_url}/analytics/")
    wait_for_charts(page, count=3)
    page.wait_for_selector("#aa-body-rotations[data-state=ready]")
    return page


def test_tab_renders_every_chart_with_the_expected_points(
    acme: Any, console_errors: list[str], artifacts: Path
) -> None:
    trends = chart_info(acme, "aa-trends-canvas")
    assert trends["type"] == "line"
    assert trends["datasets"] == ["Total issuances", "Successful", "Failed", "Unique agents"]
    assert trends["points"] == [30] * 4  # the default 30-day preset, one point per day
    heatmap = chart_info(acme, "aa-heatmap-canvas")
    shown = int(acme.locator("#aa-body-heatmap").get_attribute("data-agents-shown"))
    cells = acme.evaluate(
        "JSON.parse(document.getElementById('aa-heatmap-data').textContent).cells.length"
    )
    assert heatmap["type"] == "matrix" and heatmap["points"] == [cells] and shown > 0
    acme.screenshot(path=artifacts / "tab-1280.png", full_page=True)
    assert console_errors == []


def test_the_tab_brings_its_own_htmx_2_when_the_host_has_none(acme: Any) -> None:
    assert acme.evaluate("[document.documentElement.dataset.aaHtmx, htmx.version.split('.')[0]]") == ["plugin", "2"]


def test_agent_named_like_markup_appears_as_text(acme: Any, console_errors: list[str]) -> None:
    assert XSS_NAME in _rotation_names(acme)
    assert acme.locator("img[src=x]").count() == 0
    assert console_errors == []  # no alert() dialog either


def test_sorting_the_rotation_table(acme: Any, console_errors: list[str]) -> None:
    acme.click("#aa-sort-agent")
    acme.wait_for_selector("th[aria-sort=ascending] #aa-sort-agent")
    names = _rotation_names(acme)
    assert names == sorted(names, key=str.lower)
    assert "sort=agent" in acme.url
    acme.click("#aa-sort-agent")
    acme.wait_for_selector("th[aria-sort=descending] #aa-sort-agent")
    assert _rotation_names(acme) == sorted(names, key=str.lower, reverse=True)
    acme.click("#aa-sort-rotations")
    acme.wait_for_selector("th[aria-sort=descending] #aa-sort-rotations")
    cells = acme.locator("#aa-body-rotations tbody td:nth-of-type(1)").all_inner_texts()
    counts = [int(t.replace(",", "")) for t in cells]
    assert counts == sorted(counts, reverse=True)
    assert console_errors == []


def test_sort_keeps_keyboard_focus(acme: Any) -> None:
    acme.focus("#aa-sort-last_rotation")
    acme.keyboard.press("Enter")
    acme.wait_for_selector("th[aria-sort] #aa-sort-last_rotation")
    assert acme.evaluate("document.activeElement.id") == "aa-sort-last_rotation"


def test_changing_the_range_updates_every_panel_and_the_url(acme: Any, console_errors: list[str]) -> None:
    acme.click("label[for=aa-range-7]")
    acme.wait_for_url(re.compile(r"range=7"))
    wait_for_charts(acme, count=3)
    acme.wait_for_function("() => document.querySelector('#aa-body-summary .aa-period') !== null")
    assert chart_info(acme, "aa-trends-canvas")["points"] == [7] * 4
    assert _period_days(acme, "summary") == 7
    assert _period_days(acme, "heatmap") == 7
    assert _period_days(acme, "trends") == 7
    assert _period_days(acme, "calls") == 7
    acme.click("label[for=aa-granularity-week]")
    acme.wait_for_url(re.compile(r"granularity=week"))
    wait_for_charts(acme, count=3)
    assert len(chart_info(acme, "aa-trends-canvas")["labels"]) in (2, 3)  # 7 days span 2 or 3 ISO weeks
    acme.go_back()
    acme.wait_for_url(re.compile(r"range=7(?!.*granularity)"))
    wait_for_charts(acme, count=3)
    assert chart_info(acme, "aa-trends-canvas")["points"] == [7] * 4
    assert console_errors == []


def test_custom_range_too_long_shows_the_message_inline(acme: Any, demo_url: str, console_errors: list[str]) -> None:
    acme.fill("#aa-from", "2000-01-01")
    acme.dispatch_event("#aa-from", "change")
    acme.wait_for_url(re.compile(r"range=custom"))
    alert = acme.locator("#aa-body-heatmap [role=alert]")
    alert.wait_for()
    assert "at most 90 days" in alert.inner_text()
    assert acme.locator("#aa-body-trends [role=alert]").count() == 1  # 365-day limit for trends too
    assert console_errors == []


def test_shared_link_reproduces_the_view(page: Any, demo_url: str) -> None:
    log_in(page, demo_url, "acme")
    page.goto(f"{demo_url}/analytics/?range=7&granularity=week&sort=agent&dir=desc")
    wait_for_charts(page, count=3)
    page.wait_for_selector("th[aria-sort=descending] #aa-sort-agent")
    assert page.is_checked("#aa-range-7") and page.is_checked("#aa-granularity-week")


def test_free_tier_sees_the_upgrade_panel(page: Any, demo_url: str, console_errors: list[str]) -> None:
    log_in(page, demo_url, "initech")
    page.goto(f"{demo_url}/analytics/")
    assert page.locator("[data-state=upgrade]").is_visible()
    assert page.locator("canvas").count() == 0
    assert console_errors == []


def test_tab_fits_a_phone(page: Any, demo_url: str, artifacts: Path, console_errors: list[str]) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, demo_url, "acme")
    page.goto(f"{demo_url}/analytics/")
    wait_for_charts(page, count=3)
    page.wait_for_selector("#aa-body-rotations[data-state=ready]")
    overflow = page.evaluate("document.querySelector('#agentidp-analytics').scrollWidth")
    assert overflow <= 390
    page.screenshot(path=artifacts / "tab-390.png", full_page=True)
    assert console_errors == []


#: Milliseconds for the whole gallery page: 30 fragments read through its service, which has no cache,
#: in one Python process, up to 500 agents over 90 days. Over 15 s (the other pages' wait) on a slow
#: two-core machine that runs Chromium beside it; the page's look, not its speed, is under test here.
GALLERY_LOAD_MS = 60_000


def test_gallery_renders_every_state(page: Any, gallery_url: str, artifacts: Path, console_errors: list[str]) -> None:
    page.goto(f"{gallery_url}/analytics/_gallery")
    wait_for_charts(page, count=16, timeout=GALLERY_LOAD_MS)  # 5 states with data x 3 charts + the weekly trends
    for state in ("empty",):
        assert page.locator(f"#gallery-{state} [data-state=empty]").count() == 6  # the insights panel too
    assert chart_info(page, "aa-heatmap-canvas-one-agent")["points"][0] > 0
    assert chart_info(page, "aa-trends-canvas-typical")["points"] == [30] * 4
    assert chart_info(page, "aa-trends-canvas-typical-week")["points"] == [5] * 4
    names = page.locator("#gallery-html-names .aa-table--rotations tbody th").all_inner_texts()
    assert XSS_NAME in names and "</script><script>alert(1)</script>" in names
    page.screenshot(path=artifacts / "gallery.png", full_page=True)
    assert console_errors == []


def test_gallery_show_all_draws_500_agents(page: Any, gallery_url: str, console_errors: list[str]) -> None:
    page.goto(f"{gallery_url}/analytics/_gallery#gallery-agents-500")
    wait_for_charts(page, count=16, timeout=GALLERY_LOAD_MS)
    before = page.evaluate("window.analyticsCharts.size")
    page.click("#aa-heatmap-toggle-agents-500")
    page.wait_for_function(
        "() => document.querySelector('#aa-body-heatmap-agents-500').dataset.agentsShown === '500'"
    )
    wait_for_charts(page, count=16)
    info = page.evaluate(
        """() => { const c = window.analyticsCharts.get('aa-heatmap-canvas-agents-500');
                   const d = JSON.parse(document.getElementById('aa-heatmap-data-agents-500').textContent);
                   return [c.data.datasets[0].data.length, d.cells.length, d.agents.length] }"""
    )
    assert info[0] == info[1] and info[2] == 500
    assert page.evaluate("window.analyticsCharts.size") == before  # the old chart was destroyed, not leaked
    assert console_errors == []


def _call_rows(page: Any, column: int) -> list[str]:
    return page.locator(f"#aa-body-calls-typical tbody tr > :nth-child({column})").all_inner_texts()


def _numbers(texts: list[str]) -> list[float]:
    return [float(t.replace(",", "").replace("%", "").replace("\u26a0", "").strip()) for t in texts]


def test_call_patterns_chart_and_keyboard_sorted_table(page: Any, gallery_url: str, console_errors: list[str]) -> None:
    page.goto(f"{gallery_url}/analytics/_gallery#gallery-typical")
    wait_for_charts(page, count=16, timeout=GALLERY_LOAD_MS)
    chart = chart_info(page, "aa-calls-canvas-typical")
    assert chart["type"] == "bar"
    assert chart["datasets"] == ["Successful", "Client errors (4xx)", "Server errors (5xx)"]
    rows = page.locator("#aa-body-calls-typical tbody tr").count()
    assert chart["points"] == [min(rows, 10)] * 3
    calls = _numbers(_call_rows(page, 2))
    assert calls == sorted(calls, reverse=True)  # busiest first, as the heading says
    assert page.locator("#aa-body-calls-typical th[aria-sort=descending] #aa-csort-calls-typical").count() == 1
    page.focus("#aa-csort-serverErrors-typical")
    page.keyboard.press("Enter")
    page.wait_for_selector("#aa-body-calls-typical th[aria-sort=descending] #aa-csort-serverErrors-typical")
    assert page.locator("#aa-body-calls-typical th[aria-sort]").count() == 1
    errors = _numbers(_call_rows(page, 5))
    assert errors == sorted(errors, reverse=True) and errors[0] > 0
    page.keyboard.press("Space")
    page.wait_for_selector("#aa-body-calls-typical th[aria-sort=ascending] #aa-csort-serverErrors-typical")
    assert _numbers(_call_rows(page, 5)) == sorted(errors)
    page.click("#aa-csort-endpoint-typical")
    page.wait_for_selector("#aa-body-calls-typical th[aria-sort=ascending] #aa-csort-endpoint-typical")
    names = [t.lower() for t in _call_rows(page, 1)]
    assert names == sorted(names)
    assert console_errors == []


def test_demo_call_patterns_show_the_token_outage_and_follow_the_agent_filter(
    acme: Any, console_errors: list[str]
) -> None:
    chart = chart_info(acme, "aa-calls-canvas")
    assert chart["type"] == "bar" and "POST /oauth/token" in chart["labels"]
    token_row = acme.locator('#aa-body-calls tr[data-endpoint="POST /oauth/token"]')
    assert int(token_row.locator("td:nth-of-type(4)").inner_text().replace(",", "")) > 0  # the outage's 5xx
    busiest = token_row.locator("td.aa-name").inner_text().rsplit(" (", 1)[0]
    # Long names are cut in the filter's options ("…"): match the option by its shown prefix.
    value = acme.evaluate(
        """(name) => Array.from(document.querySelectorAll('#aa-agent option'))
            .find(o => o.value && name.startsWith(o.textContent.replace('\u2026', ''))).value""",
        busiest,
    )
    acme.select_option("#aa-agent", value)
    acme.wait_for_url(re.compile(r"agentId="))
    wait_for_charts(acme, count=3)
    top = acme.locator("#aa-body-calls tbody td.aa-name").all_inner_texts()
    assert top and all(t.startswith(busiest + " (") for t in top)
    assert console_errors == []


def _card_rows(page: Any) -> int:
    tops = page.eval_on_selector_all(
        "#aa-body-summary .aa-card", "cards => cards.map(c => Math.round(c.getBoundingClientRect().top))"
    )
    assert len(tops) == 6
    return len(set(tops))


def test_summary_cards_make_one_row_at_1280_px_and_pairs_on_a_phone(acme: Any) -> None:
    assert _card_rows(acme) == 1  # never 5 + 1
    acme.set_viewport_size({"width": 390, "height": 844})
    assert _card_rows(acme) == 3


def test_charts_take_their_colours_from_the_css_variables_of_the_tab(acme: Any, console_errors: list[str]) -> None:
    # A host re-theming the tab sets the variables on .aa (or around it), not on <html>.
    acme.evaluate(
        """() => {
            const tab = document.getElementById('agentidp-analytics');
            tab.style.setProperty('--aa-text', 'rgb(1, 2, 3)');
            tab.style.setProperty('--aa-calls-5xx', 'rgb(4, 5, 6)');
        }"""
    )
    acme.click("label[for=aa-range-7]")
    acme.wait_for_url(re.compile(r"range=7"))
    wait_for_charts(acme, count=3)
    colours = acme.evaluate(
        """() => ({
            trends: window.analyticsCharts.get('aa-trends-canvas').options.scales.x.ticks.color,
            heatmap: window.analyticsCharts.get('aa-heatmap-canvas').options.scales.y.ticks.color,
            serverErrors: window.analyticsCharts.get('aa-calls-canvas').data.datasets[2].backgroundColor,
        })"""
    )
    assert colours == {"trends": "rgb(1, 2, 3)", "heatmap": "rgb(1, 2, 3)", "serverErrors": "rgb(4, 5, 6)"}
    assert console_errors == []


def test_dates_in_the_wrong_order_show_one_error_and_mark_the_inputs(acme: Any, console_errors: list[str]) -> None:
    assert acme.locator("#aa-controls button[type=submit]").is_hidden()  # changes apply at once
    today = datetime.now(UTC).date()
    acme.fill("#aa-to", (today - timedelta(days=10)).isoformat())
    acme.dispatch_event("#aa-to", "change")
    acme.fill("#aa-from", (today - timedelta(days=3)).isoformat())
    acme.dispatch_event("#aa-from", "change")
    acme.wait_for_selector("#aa-body-period[data-error-code=INVALID_DATE_RANGE]")
    acme.wait_for_selector("#aa-from[aria-invalid=true]")
    assert acme.locator("[role=alert]").count() == 1
    assert acme.get_attribute("#aa-to", "aria-invalid") == "true"
    acme.fill("#aa-from", (today - timedelta(days=20)).isoformat())
    acme.dispatch_event("#aa-from", "change")
    wait_for_charts(acme, count=3)
    assert acme.locator("#aa-body-period").count() == 0
    assert acme.get_attribute("#aa-from", "aria-invalid") is None
    assert acme.get_attribute("#aa-to", "aria-invalid") is None
    assert console_errors == []


def test_on_a_phone_rows_stack_with_the_stale_flag_in_view_and_names_whole(
    page: Any, demo_url: str, console_errors: list[str]
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, demo_url, "acme")
    page.goto(f"{demo_url}/analytics/")
    wait_for_charts(page, count=3)
    page.wait_for_selector("#aa-body-rotations[data-state=ready]")
    for table in ("#aa-body-rotations", "#aa-body-calls"):
        box = page.evaluate(
            """(table) => {
                const row = document.querySelector(table + ' tbody tr');
                const name = row.querySelector('th').getBoundingClientRect();
                const cells = Array.from(row.querySelectorAll('td')).map(c => c.getBoundingClientRect());
                return {nameWidth: name.width, right: Math.max(...cells.map(c => c.right)),
                        scroll: document.querySelector(table + ' .aa-scroll').scrollWidth,
                        client: document.querySelector(table + ' .aa-scroll').clientWidth};
            }""",
            table,
        )
        assert box["right"] <= 390 and box["scroll"] <= box["client"], (table, box)  # no sideways scroll
        assert box["nameWidth"] > 200, (table, box)  # a name on its own line, not a 50 px column
    status = page.locator("#aa-body-rotations tbody tr").first.locator("td.aa-status")
    name = page.locator("#aa-body-rotations tbody tr").first.locator("th")
    assert status.bounding_box()["y"] - name.bounding_box()["y"] < 40  # the flag right under the name
    assert console_errors == []


@pytest.mark.parametrize("preset", ["30", "90"])
def test_heatmap_cells_stay_visible_on_a_phone(
    page: Any, demo_url: str, preset: str, console_errors: list[str]
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, demo_url, "acme")
    page.goto(f"{demo_url}/analytics/?range={preset}")
    wait_for_charts(page, count=3)
    cell = page.evaluate(
        """() => {
            const chart = window.analyticsCharts.get('aa-heatmap-canvas');
            const area = chart.chartArea;
            const days = JSON.parse(document.getElementById('aa-heatmap-data').textContent).dates.length;
            return (area.right - area.left) / days;
        }"""
    )
    assert cell >= 7, cell  # no longer 4-5 px
    assert page.evaluate("document.querySelector('#agentidp-analytics').scrollWidth") <= 390  # the chart scrolls
    assert console_errors == []
