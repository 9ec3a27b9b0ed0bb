"""What Orbit expects from the README and issue 8 that the plugin does not do yet."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from .browsing import choose_last_7_days, open_tab
from .conftest import run_flask
from .contract import api_get
from .orbit_idp.extensions import db
from .orbit_idp.models import BotUsage
from .world import World

# -- issue 8 point 9: no stale answers after a re-aggregation ---------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason=(
        "issue 8 point 9: after `flask analytics aggregate --date`, the cached answer is served until its TTL runs out"
    ),
)
def test_a_backfill_shows_in_the_next_answer_not_after_the_cache_ttl(orbit: Flask, aggregated: World) -> None:
    client = orbit.test_client()
    api_get(client, "/analytics/usage-summary", aggregated.acme_key, **aggregated.period)
    with orbit.app_context():
        late = BotUsage(tenant_id=aggregated.acme, date=aggregated.monday, metric_type="api_calls", count=1000)
        db.session.add(late)
        db.session.commit()
    run_flask(orbit, "analytics", "aggregate", "--date", aggregated.day(0))

    response = api_get(client, "/analytics/usage-summary", aggregated.acme_key, **aggregated.period)

    assert response.get_json()["summary"]["totalApiCalls"] == 1657


# -- issue 8 (htmx 1.x in the host's base template) -------------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason=(
        "issue 8 (htmx 1.x in the host's base template): with Orbit's htmx 1.x and its own htmx-config meta, "
        "Back shows the 7-day panels under the custom-period URL"
    ),
)
@pytest.mark.browser
def test_the_back_button_brings_back_the_previous_period(page: Page, live_orbit: str, aggregated: World) -> None:
    open_tab(page, live_orbit, aggregated)
    expect(page.locator("main")).to_contain_text("657")
    choose_last_7_days(page)
    expect(page.locator("main")).not_to_contain_text("657")

    page.go_back()

    expect(page).to_have_url(re.compile(r"[?&]range=custom(&|$)"))
    expect(page.locator("main")).to_contain_text("657")
