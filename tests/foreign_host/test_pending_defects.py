"""What Orbit expects from the README and issue 8 that the plugin does not do yet."""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Page, expect

from .browsing import choose_last_7_days, open_tab
from .conftest import MakeOrbit, console, orbit_with_world, run_flask
from .contract import api_get
from .markup import scan
from .orbit_idp.extensions import db
from .orbit_idp.models import BotUsage
from .world import World

STRING_FLAG = "issue 8 point 4: ANALYTICS_ENABLED='false' (a string from os.environ)"


# -- issue 8 point 4: flags from the environment fail closed ----------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(
            "/analytics/usage-summary",
            marks=pytest.mark.xfail(
                strict=True,
                reason=f"{STRING_FLAG} leaves the API on",
            ),
        ),
        pytest.param(
            "/analytics/",
            marks=pytest.mark.xfail(
                strict=True,
                reason=f"{STRING_FLAG} leaves the tab on",
            ),
        ),
        pytest.param(
            "/analytics",
            marks=pytest.mark.xfail(
                strict=True,
                reason=f"{STRING_FLAG} leaves /analytics answering a 308 to /analytics/ (issue 8 point 5)",
            ),
        ),
    ],
    ids=["api", "tab", "prefix-without-slash"],
)
def test_analytics_enabled_false_from_the_environment_makes_every_analytics_url_orbits_404(
    make_orbit: MakeOrbit, path: str
) -> None:
    app, world = orbit_with_world(make_orbit, ANALYTICS_ENABLED="false")

    response = console(app).get(path, headers={"Authorization": f"Bearer {world.acme_key}"})

    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


@pytest.mark.xfail(
    strict=True,
    reason=(
        "issue 8 points 4 and 5: the nav entry's `visible` is a function, always truthy in `{% if "
        "link.visible %}`, and the flag string is truthy"
    ),
)
def test_analytics_enabled_false_from_the_environment_hides_the_tab_in_orbits_sidebar(make_orbit: MakeOrbit) -> None:
    client = console(orbit_with_world(make_orbit, ANALYTICS_ENABLED="false")[0])

    assert "Analytics" not in client.get("/").get_data(as_text=True)


@pytest.mark.xfail(
    strict=True,
    reason="issue 8 point 4: ANALYTICS_FREE_TIER='false' (a string) lets starter orgs in",
)
def test_analytics_free_tier_false_from_the_environment_keeps_a_starter_org_out(make_orbit: MakeOrbit) -> None:
    app, world = orbit_with_world(make_orbit, ANALYTICS_FREE_TIER="false")

    response = api_get(app.test_client(), "/analytics/usage-summary", world.hooli_key)

    assert response.status_code == 403


@pytest.mark.xfail(
    strict=True,
    reason="issue 8 point 4: ANALYTICS_GALLERY_ENABLED='false' (a string) serves the gallery",
)
def test_analytics_gallery_enabled_false_from_the_environment_serves_no_gallery(make_orbit: MakeOrbit) -> None:
    client = console(orbit_with_world(make_orbit, ANALYTICS_GALLERY_ENABLED="false")[0])

    assert client.get("/analytics/_gallery").status_code == 404


@pytest.mark.xfail(
    strict=True,
    reason="issue 8 point 4: 'maybe', 'ture' and 'lots' are accepted at start-up without a word",
)
@pytest.mark.parametrize(
    ("key", "value"),
    [("ANALYTICS_ENABLED", "maybe"), ("ANALYTICS_FREE_TIER", "ture"), ("ANALYTICS_RATELIMIT", "lots")],
    ids=["enabled-maybe", "free-tier-typo", "ratelimit-lots"],
)
def test_an_unreadable_value_from_the_environment_stops_start_up_naming_the_key(
    make_orbit: MakeOrbit, key: str, value: str
) -> None:
    with pytest.raises(Exception, match=key):
        make_orbit(**{key: value})


# -- issue 8 point 5: Orbit's sidebar list is never mutated -----------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason=(
        "issue 8 point 5: init_app appends to Orbit's SIDEBAR_LINKS list in place, so every create_app() adds"
        " one more entry"
    ),
)
def test_the_sidebar_shows_one_analytics_entry_after_many_apps_in_one_process(make_orbit: MakeOrbit) -> None:
    for _ in range(2):
        make_orbit()
    client = console(orbit_with_world(make_orbit)[0])

    links = scan(client.get("/").get_data(as_text=True)).links

    assert [text for _, text in links].count("Analytics") == 1


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


# -- issue 8 point 7: copy names Orbit's own tiers --------------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason=(
        "issue 8 point 7: the upgrade panel says 'Pro and Enterprise' and 'Free plan' whatever "
        "ANALYTICS_PAID_TIERS says"
    ),
)
def test_the_upgrade_panel_names_orbits_paid_tiers_and_the_orgs_own(hooli_console: FlaskClient) -> None:
    page = hooli_console.get("/analytics/").get_data(as_text=True)
    words = set(re.findall(r"[a-z]+", page.lower()))

    assert {"growth", "scale", "starter"} <= words
    assert not {"pro", "enterprise"} & words


@pytest.mark.xfail(
    strict=True,
    reason="issue 8 point 7: the upgrade panel has no call to action (ANALYTICS_UPGRADE_URL)",
)
def test_the_upgrade_panel_links_to_orbits_plans_page(hooli_console: FlaskClient) -> None:
    links = scan(hooli_console.get("/analytics/").get_data(as_text=True)).links

    assert "https://orbit.example/billing/plans" in {href for href, _ in links}


@pytest.mark.xfail(
    strict=True,
    reason="issue 8 point 7: the 403 message names 'Pro or Enterprise', not ANALYTICS_PAID_TIERS",
)
def test_the_api_refusal_names_orbits_paid_tiers(orbit: Flask, world: World) -> None:
    message = api_get(orbit.test_client(), "/analytics/usage-summary", world.hooli_key).get_json()["error"]["message"]
    words = set(re.findall(r"[a-z]+", message.lower()))

    assert {"growth", "scale"} <= words
    assert not {"pro", "enterprise"} & words


# -- issue 8 point 5: Orbit's own Flask-Limiter and error pages -------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason=("issue 8 point 5: Orbit's RATELIMIT_DEFAULT applies to the plugin's routes and answers Orbit's HTML 429"),
)
def test_orbits_default_limit_does_not_answer_the_plugins_api(make_orbit: MakeOrbit) -> None:
    app, world = orbit_with_world(make_orbit, {"RATELIMIT_DEFAULT": "2 per minute"})
    client = app.test_client()

    statuses = [api_get(client, "/analytics/usage-summary", world.acme_key).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 200]


@pytest.mark.xfail(
    strict=True,
    reason="issue 8 point 5: ANALYTICS_URL_PREFIX does not exist; the routes stay under /analytics",
)
def test_the_url_prefix_is_configurable(make_orbit: MakeOrbit) -> None:
    app, world = orbit_with_world(make_orbit, {"ANALYTICS_URL_PREFIX": "/insights"})

    response = api_get(app.test_client(), "/insights/usage-summary", world.acme_key)

    assert response.status_code == 200


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


def _logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Each record's message and exception text, without traceback source lines that merely quote code."""
    return [f"{r.getMessage()} {r.exc_info[1] if r.exc_info else ''}" for r in caplog.records]


# -- issue 8 point 4: missing or wrong settings are named -------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason=(
        "issue 8 point 4: no start-up warning when ANALYTICS_UI_TENANT_RESOLVER is missing; every tab visit "
        "is a bare 401"
    ),
)
def test_a_missing_tab_resolver_is_warned_about_at_start_up_naming_the_key(
    make_orbit: MakeOrbit, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        make_orbit({"ANALYTICS_UI_TENANT_RESOLVER": None})

    assert any("ANALYTICS_UI_TENANT_RESOLVER" in message for message in _logged(caplog))


@pytest.mark.xfail(
    strict=True,
    reason=("issue 8 point 4: a missing ANALYTICS_BASE_TEMPLATE is a TemplateNotFound 500 that never names the key"),
)
def test_a_missing_base_template_is_reported_naming_the_key(
    make_orbit: MakeOrbit, caplog: pytest.LogCaptureFixture
) -> None:
    client = console(orbit_with_world(make_orbit, {"ANALYTICS_BASE_TEMPLATE": "orbit/base.html"})[0])

    client.get("/analytics/")

    assert any("ANALYTICS_BASE_TEMPLATE" in message for message in _logged(caplog))


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
