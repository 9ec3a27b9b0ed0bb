"""Orbit's mistakes in the plugin's settings are refused or reported, naming the key."""

from __future__ import annotations

import logging

import pytest

from .conftest import MakeOrbit, console, orbit_with_world


def _logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Each record's message and exception text, without traceback source lines that merely quote code."""
    return [f"{r.getMessage()} {r.exc_info[1] if r.exc_info else ''}" for r in caplog.records]


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


def test_a_missing_tab_resolver_is_warned_about_at_start_up_naming_the_key(
    make_orbit: MakeOrbit, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        make_orbit({"ANALYTICS_UI_TENANT_RESOLVER": None})

    assert any("ANALYTICS_UI_TENANT_RESOLVER" in message for message in _logged(caplog))


def test_a_missing_base_template_is_reported_naming_the_key(
    make_orbit: MakeOrbit, caplog: pytest.LogCaptureFixture
) -> None:
    client = console(orbit_with_world(make_orbit, {"ANALYTICS_BASE_TEMPLATE": "orbit/base.html"})[0])

    client.get("/analytics/")

    assert any("ANALYTICS_BASE_TEMPLATE" in message for message in _logged(caplog))
