"""Orbit's own prometheus-flask-exporter, on the default registry, next to the plugin."""

from __future__ import annotations

from pathlib import Path

from .conftest import MakeOrbit
from .shell import python

SPEC_METRICS = (
    "agentidp_analytics_query_duration_ms",
    "agentidp_analytics_cache_hits_total",
    "agentidp_analytics_cache_misses_total",
    "agentidp_analytics_aggregation_job_duration_ms",
    "agentidp_analytics_aggregation_job_last_run",
)


def test_orbits_own_request_metrics_stay_at_its_metrics_endpoint(make_orbit: MakeOrbit) -> None:
    client = make_orbit().test_client()
    client.get("/signin")

    exposition = client.get("/metrics").get_data(as_text=True)

    assert 'flask_http_request_total{method="GET",status="200"}' in exposition


def test_many_orbit_apps_in_one_process_each_serve_metrics(make_orbit: MakeOrbit) -> None:
    apps = [make_orbit() for _ in range(3)]

    assert [app.test_client().get("/metrics").status_code for app in apps] == [200, 200, 200]


def test_handing_in_the_default_registry_shows_the_spec_metrics_at_orbits_endpoint(
    orbit_env: dict[str, str], tmp_path: Path
) -> None:
    # A fresh interpreter: the default registry is process-wide, and this test fills it.
    run = python(
        orbit_env,
        "from prometheus_client import REGISTRY",
        "from foreign_host.orbit_idp import create_app",
        "app = create_app({'ANALYTICS_METRICS_REGISTRY': REGISTRY})",
        "print(app.test_client().get('/metrics').get_data(as_text=True))",
        cwd=tmp_path,
    )

    assert run.returncode == 0, run.output
    assert [name for name in SPEC_METRICS if name not in run.output] == []
