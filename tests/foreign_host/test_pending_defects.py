"""What Orbit expects from the README and issue 8 that the plugin does not do yet."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Page, expect

from .browsing import choose_last_7_days, open_tab
from .conftest import run_flask
from .contract import api_get
from .markup import scan
from .orbit_idp.extensions import db
from .orbit_idp.models import BotUsage
from .world import World

# -- issue 8 point 6: signed-out visitors reach Orbit's sign-in -------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="issue 8 point 6: a signed-out visit to the tab ends on Werkzeug's bare HTML 401 page",
)
def test_a_signed_out_visit_to_the_tab_goes_to_orbits_sign_in_and_back(orbit: Flask, world: World) -> None:
    response = orbit.test_client().get("/analytics/?range=7")

    assert response.status_code in {302, 303}
    location = urlsplit(response.headers["Location"])
    assert location.path == "/signin"
    assert parse_qs(location.query)["next"] == ["/analytics/?range=7"]


@pytest.mark.xfail(
    strict=True,
    reason="issue 8 point 6: a signed-out htmx fragment request gets a bare 401, no HX-Redirect",
)
def test_a_signed_out_htmx_request_gets_an_hx_redirect_to_orbits_sign_in(
    orbit: Flask, acme_console: FlaskClient
) -> None:
    fragment_url = scan(acme_console.get("/analytics/").get_data(as_text=True)).hx_gets[0]

    response = orbit.test_client().get(fragment_url, headers={"HX-Request": "true"})

    assert urlsplit(response.headers.get("HX-Redirect", "")).path == "/signin"


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
