"""Feature flags as Orbit reads them: strings from ``os.environ``."""

from __future__ import annotations

import pytest

from .conftest import MakeOrbit, console, orbit_with_world
from .contract import api_get


@pytest.mark.parametrize("value", ["true", "True", "1", "yes", "on"], ids=["true", "True", "1", "yes", "on"])
def test_analytics_enabled_spelled_as_a_true_string_keeps_the_api_on(make_orbit: MakeOrbit, value: str) -> None:
    app, world = orbit_with_world(make_orbit, ANALYTICS_ENABLED=value)

    response = api_get(app.test_client(), "/analytics/usage-summary", world.acme_key)

    assert response.status_code == 200


def test_analytics_free_tier_true_from_the_environment_lets_a_starter_org_in(make_orbit: MakeOrbit) -> None:
    app, world = orbit_with_world(make_orbit, ANALYTICS_FREE_TIER="true")

    response = api_get(app.test_client(), "/analytics/usage-summary", world.hooli_key)

    assert response.status_code == 200


@pytest.mark.parametrize(
    "path", ["/analytics/usage-summary", "/analytics/", "/analytics"], ids=["api", "tab", "prefix"]
)
def test_analytics_enabled_false_from_the_environment_makes_every_analytics_url_orbits_404(
    make_orbit: MakeOrbit, path: str
) -> None:
    app, world = orbit_with_world(make_orbit, ANALYTICS_ENABLED="false")

    response = console(app).get(path, headers={"Authorization": f"Bearer {world.acme_key}"})

    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


def test_analytics_enabled_false_from_the_environment_hides_the_tab_in_orbits_sidebar(make_orbit: MakeOrbit) -> None:
    client = console(orbit_with_world(make_orbit, ANALYTICS_ENABLED="false")[0])

    assert "Analytics" not in client.get("/").get_data(as_text=True)


def test_analytics_free_tier_false_from_the_environment_keeps_a_starter_org_out(make_orbit: MakeOrbit) -> None:
    app, world = orbit_with_world(make_orbit, ANALYTICS_FREE_TIER="false")

    response = api_get(app.test_client(), "/analytics/usage-summary", world.hooli_key)

    assert response.status_code == 403


def test_analytics_gallery_enabled_false_from_the_environment_serves_no_gallery(make_orbit: MakeOrbit) -> None:
    client = console(orbit_with_world(make_orbit, ANALYTICS_GALLERY_ENABLED="false")[0])

    assert client.get("/analytics/_gallery").status_code == 404
