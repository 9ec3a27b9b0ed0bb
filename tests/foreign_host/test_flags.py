"""Feature flags as Orbit reads them: strings from ``os.environ``."""

from __future__ import annotations

import pytest

from .conftest import MakeOrbit, orbit_with_world
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
