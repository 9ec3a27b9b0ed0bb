"""The Analytics tab in a real Chromium, inside Orbit's page: htmx 1.x loaded, script-src 'self'."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, Request, expect

from .browsing import RECORD_CSP_VIOLATIONS, open_tab, sign_in_browser
from .world import World

pytestmark = pytest.mark.browser


def test_the_summary_panel_shows_orbits_numbers_with_htmx_1_on_the_page(
    page: Page, live_orbit: str, aggregated: World
) -> None:
    open_tab(page, live_orbit, aggregated)

    expect(page.locator("main")).to_contain_text("657")


def test_the_tab_breaks_nothing_under_orbits_content_security_policy(
    page: Page, live_orbit: str, aggregated: World
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.add_init_script(RECORD_CSP_VIOLATIONS)
    open_tab(page, live_orbit, aggregated)
    expect(page.locator("main")).to_contain_text("657")
    page.wait_for_load_state("networkidle")

    assert (page.evaluate("window.__cspViolations"), errors) == ([], [])


def test_each_panel_is_fetched_once_with_orbits_htmx_1_on_the_page(
    page: Page, live_orbit: str, aggregated: World
) -> None:
    fetched: list[str] = []

    def record(request: Request) -> None:
        if "/fragments/" in request.url:
            fetched.append(request.url.split("?")[0].rsplit("/", 1)[-1])

    sign_in_browser(page, live_orbit)
    page.on("request", record)
    page.goto(f"{live_orbit}/analytics/?range=custom&from={aggregated.day(-1)}&to={aggregated.day(9)}")
    expect(page.locator("main")).to_contain_text("657")
    page.wait_for_load_state("networkidle")

    assert sorted(fetched) == sorted(set(fetched))


def test_a_preset_updates_the_panels_and_the_address_bar(page: Page, live_orbit: str, aggregated: World) -> None:
    open_tab(page, live_orbit, aggregated)
    expect(page.locator("main")).to_contain_text("657")

    page.get_by_text("7 days", exact=True).click()

    expect(page).to_have_url(re.compile(r"[?&]range=7(&|$)"))
    expect(page.locator("main")).not_to_contain_text("657")
