"""The plugin next to Orbit's own Flask-Limiter, Flask-Caching and error pages."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import pytest
import redis
from flask import Flask, Request

from .conftest import MakeOrbit, console, orbit_with_world
from .contract import api_get
from .markup import scan
from .services import BACKENDS, REDIS_URL
from .world import World

NEEDS_REDIS = pytest.mark.skipif(
    "postgresql" not in BACKENDS, reason="Orbit caches in Redis only in its PostgreSQL + Redis deployment"
)


def test_orbits_default_limit_still_guards_orbits_own_pages(make_orbit: MakeOrbit) -> None:
    app, _ = orbit_with_world(make_orbit, {"RATELIMIT_DEFAULT": "2 per minute"})
    client = app.test_client()

    statuses = [client.get("/signin").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_orbits_default_limit_does_not_answer_the_plugins_api(make_orbit: MakeOrbit) -> None:
    app, world = orbit_with_world(make_orbit, {"RATELIMIT_DEFAULT": "2 per minute"})
    client = app.test_client()

    statuses = [api_get(client, "/analytics/usage-summary", world.acme_key).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 200]


def test_orbits_default_limit_does_not_cut_the_tabs_page_and_panels(make_orbit: MakeOrbit) -> None:
    app, _ = orbit_with_world(make_orbit, {"RATELIMIT_DEFAULT": "3 per minute"})
    client = console(app)
    page = client.get("/analytics/")
    fragments = [client.get(url, headers={"HX-Request": "true"}) for url in scan(page.get_data(as_text=True)).hx_gets]

    assert len(fragments) >= 4
    assert {page.status_code, *(f.status_code for f in fragments)} == {200}
    assert not any("RATE_LIMITED" in f.get_data(as_text=True) for f in fragments)


def test_the_plugins_rate_limit_answers_json_429_with_retry_after_despite_orbits_html_page(
    make_orbit: MakeOrbit,
) -> None:
    app, world = orbit_with_world(make_orbit, ANALYTICS_RATELIMIT="2 per minute")
    client = app.test_client()

    responses = [api_get(client, "/analytics/usage-summary", world.acme_key) for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[2].get_json()["error"]["code"] == "RATE_LIMITED"
    assert int(responses[2].headers["Retry-After"]) >= 1


def test_requests_without_a_key_are_limited_per_address_in_json(make_orbit: MakeOrbit) -> None:
    app, _ = orbit_with_world(make_orbit, {"ANALYTICS_RATELIMIT_UNAUTHENTICATED": "2 per minute"})
    client = app.test_client()

    responses = [client.get("/analytics/token-trends") for _ in range(3)]

    assert [r.status_code for r in responses] == [401, 401, 429]
    assert responses[2].get_json()["error"]["code"] == "RATE_LIMITED"


def test_the_url_prefix_moves_the_api(make_orbit: MakeOrbit) -> None:
    app, world = orbit_with_world(make_orbit, {"ANALYTICS_URL_PREFIX": "/insights"})

    response = api_get(app.test_client(), "/insights/usage-summary", world.acme_key)

    assert response.status_code == 200


def test_an_orbit_route_under_the_plugins_prefix_is_reported_at_start_up_naming_both(
    make_orbit: MakeOrbit, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        make_orbit({"ANALYTICS_URL_PREFIX": "/bots"})

    assert any("console.bots" in r.getMessage() and "ANALYTICS_URL_PREFIX" in r.getMessage() for r in caplog.records)


def test_an_unknown_agent_is_json_despite_orbits_html_404_page(orbit: Flask, world: World) -> None:
    response = api_get(
        orbit.test_client(), "/analytics/agent-activity", world.acme_key, agentId="00000000-0000-4000-8000-000000000000"
    )

    assert (response.status_code, response.mimetype) == (404, "application/json")


@pytest.mark.parametrize("orbit_env", [pytest.param("postgresql", marks=NEEDS_REDIS)], indirect=True)
def test_orbits_cache_and_the_plugins_share_redis_without_touching_each_others_keys(make_orbit: MakeOrbit) -> None:
    app, world = orbit_with_world(make_orbit)
    client = console(app)
    client.get("/bots")

    api_get(client, "/analytics/usage-summary", world.acme_key)

    keys = [key.decode() for key in redis.Redis.from_url(REDIS_URL).keys("*")]
    # The spec's answer keys, and the mirror of the aggregate generation they are keyed on.
    plugin_keys = [key for key in keys if key.startswith("analytics:") and key != "analytics:generation"]
    assert plugin_keys and all(re.fullmatch(rf"analytics:{world.acme}:usage-summary:[^:]+", k) for k in plugin_keys)
    assert any(key.startswith("orbit:") for key in keys)
    assert not any(key.startswith("orbit:analytics") for key in keys)


def _resolver_that_fails(request: Request) -> None:
    raise RuntimeError("Orbit's key store is down")


def _resolver_with_a_wrong_shape(request: Request) -> str:
    return "acme"


@pytest.mark.parametrize(
    "resolver", [_resolver_that_fails, _resolver_with_a_wrong_shape], ids=["raises", "wrong-shape"]
)
def test_a_broken_api_resolver_gets_the_apis_json_500_not_orbits_html_page(
    make_orbit: MakeOrbit, resolver: Callable[[Request], object]
) -> None:
    app = make_orbit({"ANALYTICS_API_TENANT_RESOLVER": resolver})

    response = app.test_client().get("/analytics/usage-summary", headers={"Authorization": "Bearer orb_x"})

    assert (response.status_code, response.mimetype) == (500, "application/json")
    assert response.get_json()["error"]["code"] == "INTERNAL_ERROR"
