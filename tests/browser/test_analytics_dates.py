"""The tab in a German and a US browser: ISO dates in the period's inputs, the page's numbers in the charts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tests.browser.conftest import log_in, wait_for_charts

pytestmark = pytest.mark.browser

ISO = re.compile(r"\d{4}-\d\d-\d\d")


def _today() -> date:
    return datetime.now(UTC).date()


@pytest.fixture(params=["de-DE", "en-US"])
def localised(request: pytest.FixtureRequest, browser: Any, browser_context_args: dict, demo_url: str) -> Iterator[Any]:
    """The acme tab in a browser set to German or US English."""
    context = browser.new_context(**{**browser_context_args, "locale": request.param})
    page = context.new_page()
    failures: list[str] = []
    page.on("response", lambda r: failures.append(f"{r.status} {r.url}") if r.status >= 500 else None)
    page.on("pageerror", lambda e: failures.append(f"pageerror: {e}"))
    log_in(page, demo_url, "acme")
    page.goto(f"{demo_url}/analytics/")
    wait_for_charts(page, count=3)
    assert page.evaluate("navigator.language") == request.param
    page.failures = failures
    yield page
    context.close()


def _summary_period(page: Any) -> list[str]:
    return page.locator("#aa-body-summary .aa-period time").all_inner_texts()


def test_the_inputs_show_iso_dates_in_the_browsers_locale(localised: Any) -> None:
    for selector in ("#aa-from", "#aa-to"):
        assert localised.get_attribute(selector, "type") == "text"
        assert ISO.fullmatch(localised.input_value(selector))
    assert [localised.input_value("#aa-from"), localised.input_value("#aa-to")] == _summary_period(localised)
    assert localised.failures == []


def test_typing_iso_dates_applies_them(localised: Any) -> None:
    start, end = _today() - timedelta(days=20), _today() - timedelta(days=6)
    for selector, day in (("#aa-from", start), ("#aa-to", end)):
        field = localised.locator(selector)
        field.click()
        field.press("Control+a")
        field.press_sequentially(day.isoformat())
    localised.keyboard.press("Enter")
    localised.wait_for_url(re.compile(rf"range=custom&from={start}&to={end}"))
    wait_for_charts(localised, count=3)
    assert _summary_period(localised) == [start.isoformat(), end.isoformat()]
    assert localised.is_checked("#aa-range-custom")
    assert localised.failures == []


def test_a_date_in_the_locales_own_format_gets_the_error_box_on_that_input_only(localised: Any) -> None:
    field = localised.locator("#aa-from")
    field.fill("01.03.2026")
    field.press("Enter")
    localised.wait_for_selector("#aa-body-period[data-error-code=INVALID_DATE]")
    localised.wait_for_selector("#aa-from[aria-invalid=true]")
    assert localised.locator("[role=alert]").count() == 1
    assert localised.get_attribute("#aa-from", "aria-describedby") == "aa-body-period"
    assert localised.get_attribute("#aa-to", "aria-invalid") is None
    assert localised.failures == []


def test_arrow_keys_step_the_date_by_a_day_and_apply(localised: Any) -> None:
    before = date.fromisoformat(localised.input_value("#aa-to"))
    localised.focus("#aa-to")
    localised.keyboard.press("ArrowDown")
    localised.keyboard.press("ArrowDown")
    expected = before - timedelta(days=2)
    assert localised.input_value("#aa-to") == expected.isoformat()
    localised.wait_for_url(re.compile(rf"range=custom&from=\d{{4}}-\d\d-\d\d&to={expected}"))
    wait_for_charts(localised, count=3)
    assert _summary_period(localised)[1] == expected.isoformat()
    assert localised.evaluate("document.activeElement.id") == "aa-to"  # focus stays for the next step
    assert localised.failures == []


def test_the_calendar_button_writes_the_picked_day_as_iso(localised: Any) -> None:
    button = localised.locator("#aa-dates .aa-date-pick").first
    assert button.get_attribute("aria-label") == "Choose the from date from a calendar"
    picked = _today() - timedelta(days=12)
    # What the browser's picker does on a choice: set the date input's value (ISO in every locale), fire change.
    localised.locator("#aa-dates .aa-date-native").first.evaluate(
        "(el, day) => { el.value = day; el.dispatchEvent(new Event('change', {bubbles: true})); }",
        picked.isoformat(),
    )
    assert localised.input_value("#aa-from") == picked.isoformat()
    localised.wait_for_url(re.compile(rf"range=custom&from={picked}"))
    wait_for_charts(localised, count=3)
    assert _summary_period(localised)[0] == picked.isoformat()
    assert localised.failures == []


def test_a_preset_after_custom_dates_writes_its_iso_dates_back(localised: Any) -> None:
    localised.locator("#aa-to").fill((_today() - timedelta(days=3)).isoformat())
    localised.locator("#aa-to").press("Enter")
    localised.wait_for_url(re.compile(r"range=custom"))
    wait_for_charts(localised, count=3)
    localised.click("label[for=aa-range-7]")
    localised.wait_for_url(re.compile(r"range=7"))
    wait_for_charts(localised, count=3)
    yesterday = _today() - timedelta(days=1)
    assert localised.input_value("#aa-to") == yesterday.isoformat()
    assert localised.input_value("#aa-from") == (yesterday - timedelta(days=6)).isoformat()
    assert localised.locator("#aa-dates .aa-date-pick").count() == 2  # the swapped-in inputs get their buttons
    assert localised.failures == []


def test_chart_numbers_read_like_the_pages_in_the_browsers_locale(localised: Any) -> None:
    numbers = localised.evaluate(
        """() => {
            const calls = window.analyticsCharts.get('aa-calls-canvas');
            const heatmap = window.analyticsCharts.get('aa-heatmap-canvas');
            const tooltip = heatmap.options.plugins.tooltip.callbacks.label({raw: {x: 0, v: 12345, t: 1234, r: 1}});
            return {ticks: calls.scales.x.ticks.map(t => t.label).filter(l => l.length > 3), tooltip};
        }"""
    )
    # The cards say 1,234 whatever the locale; a German browser drew 50.000 on the axis beside them.
    assert numbers["ticks"] and all(re.fullmatch(r"\d{1,3}(,\d{3})+", label) for label in numbers["ticks"]), numbers
    assert "API calls: 12,345" in numbers["tooltip"] and "Tokens issued: 1,234" in numbers["tooltip"]
    assert localised.failures == []
