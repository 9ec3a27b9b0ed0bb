"""The Analytics tab in a real Chromium, inside Orbit's page: htmx 1.x loaded, script-src 'self'."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, Request, expect
from werkzeug.serving import make_server

from .browsing import RECORD_CSP_VIOLATIONS, choose_last_7_days, open_tab, sign_in_browser
from .conftest import MakeOrbit, orbit_with_world, run_flask
from .world import PASSWORD, World

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


def test_the_back_button_brings_back_the_previous_period(page: Page, live_orbit: str, aggregated: World) -> None:
    open_tab(page, live_orbit, aggregated)
    expect(page.locator("main")).to_contain_text("657")
    choose_last_7_days(page)
    expect(page.locator("main")).not_to_contain_text("657")

    page.go_back()

    expect(page).to_have_url(re.compile(r"[?&]range=custom(&|$)"))
    expect(page.locator("main")).to_contain_text("657")


def test_the_tab_runs_on_orbits_htmx_1_alone(page: Page, live_orbit: str, aggregated: World) -> None:
    open_tab(page, live_orbit, aggregated)
    expect(page.locator("main")).to_contain_text("657")

    assert page.evaluate("[document.documentElement.dataset.aaHtmx, htmx.version]") == ["host", "1.9.12"]


def test_changing_the_controls_breaks_nothing_under_orbits_content_security_policy(
    page: Page, live_orbit: str, aggregated: World
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.add_init_script(RECORD_CSP_VIOLATIONS)
    open_tab(page, live_orbit, aggregated)
    expect(page.locator("canvas[data-chart-ready]")).to_have_count(2)

    page.get_by_text("Week", exact=True).click()  # every panel again, charts drawn on the same canvas ids

    expect(page).to_have_url(re.compile(r"[?&]granularity=week(&|$)"))
    expect(page.locator("canvas[data-chart-ready]")).to_have_count(2)
    page.wait_for_load_state("networkidle")

    assert (page.evaluate("window.__cspViolations"), errors) == ([], [])


def test_an_expired_session_sends_a_preset_click_to_orbits_sign_in_and_back(
    page: Page, live_orbit: str, aggregated: World
) -> None:
    open_tab(page, live_orbit, aggregated)
    expect(page.locator("main")).to_contain_text("657")
    page.context.clear_cookies()

    page.get_by_text("7 days", exact=True).click()

    expect(page).to_have_url(re.compile(r"/signin\?next="))
    page.fill("input[name=email]", "owner@acme.example")
    page.fill("input[name=password]", PASSWORD)
    page.click("#orbit-signin button[type=submit]")
    expect(page).to_have_url(re.compile(r"/analytics/\?range=7(&|$)"))
    expect(page.locator("#aa-range-7")).to_be_checked()


@pytest.fixture
def live_orbit_one_heatmap_row(make_orbit: MakeOrbit) -> Iterator[tuple[str, World]]:
    """Orbit showing one heatmap row before "show all", served for the browser."""
    app, world = orbit_with_world(make_orbit, {"ANALYTICS_HEATMAP_AGENTS": 1})
    run_flask(app, "analytics", "aggregate", "--from", world.day(-7), "--to", world.day(13))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", world
    server.shutdown()
    thread.join(timeout=10)


def test_redrawing_a_chart_in_place_breaks_nothing_under_orbits_content_security_policy(
    page: Page, live_orbit_one_heatmap_row: tuple[str, World]
) -> None:
    base, world = live_orbit_one_heatmap_row
    page.add_init_script(RECORD_CSP_VIOLATIONS)
    open_tab(page, base, world)
    expect(page.locator("#aa-heatmap-canvas[data-chart-ready]")).to_have_count(1)

    page.get_by_role("button", name="Show all 2 agents").click()  # the heatmap's body, swapped with its canvas id

    expect(page.get_by_role("button", name="Show the busiest 1 only")).to_be_visible()
    expect(page.locator("#aa-heatmap-canvas[data-chart-ready]")).to_have_count(1)
    assert page.evaluate("window.__cspViolations") == []
