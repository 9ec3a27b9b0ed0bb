"""Property-based run of docs/openapi.yaml against the API: no 5xx, every response as documented.

Every check runs except "schema-valid request accepted": the period rules
(``from`` <= ``to`` <= today, at most 90 or 365 days) relate parameters to each
other and to the clock, which JSON Schema cannot say, so a schema-valid
request may rightly get a documented 400. Nor "schema-violating request
rejected": unknown query parameters are ignored, as documented, and the test
always sends a valid token, so a case without one is not a negative case here.

Bounded in time: a few dozen generated requests per operation and backend,
against an app with seeded data and rate limits off (or it would mostly see 429s).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from agentidp_analytics_plugin.call_flush import apply_batch
from agentidp_analytics_plugin.state import get_state
from api_fixtures import Api, days_ago
from host_app import HostData

pytestmark = pytest.mark.property

schema = schemathesis.openapi.from_path(str(Path(__file__).resolve().parents[1] / "docs" / "openapi.yaml"))


@pytest.fixture
def fuzz_target(make_app, api_config):
    app = make_app(**{**api_config, "ANALYTICS_RATELIMIT_ENABLED": False})
    host = HostData(app)
    tenant = host.tenant(tier="enterprise")
    agents = [host.agent(tenant, name=name) for name in ("alpha", "<b>beta</b>")]
    rows = [
        (tenant, agent, days_ago(n), metric, n + 1)
        for n in range(0, 40, 4)
        for agent in [*agents, None]
        for metric in ("api_calls", "token_issuances", "token_failures", "credential_rotations")
    ]
    host.events(rows)
    Api(app).aggregate(sorted({r[2] for r in rows}))
    # Call patterns of every shape: agents and none, error classes, the unmatched route.
    state = get_state(app)
    calls = {
        (tenant, agent, days_ago(n), method, route, status): [n + 1, 2.5 * (n + 1)]
        for n in range(0, 40, 8)
        for agent in [*agents, None]
        for method, route in (("GET", "/api/agents/<uuid:agent_id>"), ("OTHER", "<unmatched>"))
        for status in ("2xx", "4xx", "5xx")
    }
    apply_batch(state.engine, state.tables, "fuzz", calls)
    return app, {"Authorization": f"Bearer {host.token(tenant)}"}


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_openapi(case, fuzz_target):
    app, headers = fuzz_target
    # Every probe of the checks (e.g. the call without credentials) must reach this app in-process.
    case.operation.schema.app = app
    response = case.call_and_validate(
        base_url="http://localhost",
        app=app,
        headers=headers,
        excluded_checks=[positive_data_acceptance, negative_data_rejection],
    )
    assert response.status_code < 500
