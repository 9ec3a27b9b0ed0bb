"""What Orbit expects from the README and issue 8 that the plugin does not do yet."""

from __future__ import annotations

import pytest
from flask import Flask

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
