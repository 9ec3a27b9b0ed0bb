"""The Analytics tab inside Orbit's console: Orbit's layout, sidebar and Content-Security-Policy."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask.testing import FlaskClient

from .conftest import MakeOrbit, console, orbit_with_world
from .markup import csp_script_offences, scan
from .world import PASSWORD, World


def test_the_tab_renders_inside_orbits_layout(acme_console: FlaskClient) -> None:
    response = acme_console.get("/analytics/")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<span class="orbit-brand">Orbit ID</span>' in page
    assert '<nav class="orbit-sidebar" aria-label="Console">' in page


def test_orbits_sidebar_links_a_signed_in_member_to_the_tab(acme_console: FlaskClient) -> None:
    links = scan(acme_console.get("/").get_data(as_text=True)).links

    assert ("/analytics/", "Analytics") in links


def test_the_tab_page_needs_nothing_orbits_script_src_self_forbids(acme_console: FlaskClient) -> None:
    assert csp_script_offences(acme_console.get("/analytics/").get_data(as_text=True)) == []


def test_the_tabs_fragments_need_nothing_orbits_script_src_self_forbids(acme_console: FlaskClient) -> None:
    fragment_urls = scan(acme_console.get("/analytics/").get_data(as_text=True)).hx_gets
    assert fragment_urls

    offences = {
        url: csp_script_offences(acme_console.get(url, headers={"HX-Request": "true"}).get_data(as_text=True))
        for url in fragment_urls
    }

    assert offences == dict.fromkeys(fragment_urls, [])


def test_the_tab_is_served_with_orbits_content_security_policy(acme_console: FlaskClient) -> None:
    response = acme_console.get("/analytics/")

    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_the_sidebar_shows_one_analytics_entry_after_many_apps_in_one_process(make_orbit: MakeOrbit) -> None:
    for _ in range(2):
        make_orbit()
    client = console(orbit_with_world(make_orbit)[0])

    links = scan(client.get("/").get_data(as_text=True)).links

    assert [text for _, text in links].count("Analytics") == 1


def test_the_upgrade_panel_names_orbits_paid_tiers_and_the_orgs_own(hooli_console: FlaskClient) -> None:
    page = hooli_console.get("/analytics/").get_data(as_text=True)
    words = set(re.findall(r"[a-z]+", page.lower()))

    assert {"growth", "scale", "starter"} <= words
    assert not {"pro", "enterprise"} & words


def test_the_upgrade_panel_links_to_orbits_plans_page(hooli_console: FlaskClient) -> None:
    links = scan(hooli_console.get("/analytics/").get_data(as_text=True)).links

    assert "https://orbit.example/billing/plans" in {href for href, _ in links}


def test_a_signed_out_visit_to_the_tab_goes_to_orbits_sign_in_and_back(orbit: Flask, world: World) -> None:
    response = orbit.test_client().get("/analytics/?range=7")

    assert response.status_code in {302, 303}
    location = urlsplit(response.headers["Location"])
    assert location.path == "/signin"
    assert parse_qs(location.query)["next"] == ["/analytics/?range=7"]


def test_a_signed_out_htmx_request_gets_an_hx_redirect_to_orbits_sign_in(
    orbit: Flask, acme_console: FlaskClient
) -> None:
    fragment_url = scan(acme_console.get("/analytics/").get_data(as_text=True)).hx_gets[0]

    response = orbit.test_client().get(fragment_url, headers={"HX-Request": "true"})

    assert urlsplit(response.headers.get("HX-Redirect", "")).path == "/signin"


def test_signing_in_from_the_redirect_lands_back_on_the_same_period(orbit: Flask, world: World) -> None:
    client = orbit.test_client()
    signin = client.get("/analytics/?range=7").headers["Location"]

    back = client.post(signin, data={"email": "owner@acme.example", "password": PASSWORD})

    assert back.headers["Location"] == "/analytics/?range=7"
    assert 'id="aa-range-7" value="7" checked' in client.get(back.headers["Location"]).get_data(as_text=True)
