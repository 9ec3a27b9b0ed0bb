"""The spec's metrics at Orbit's own /metrics: prometheus-flask-exporter on the default registry."""

from __future__ import annotations

import time
from pathlib import Path

from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from .conftest import MakeOrbit
from .contract import api_get
from .shell import flask, python
from .world import World

SPEC_METRICS = (
    "agentidp_analytics_query_duration_ms",
    "agentidp_analytics_cache_hits_total",
    "agentidp_analytics_cache_misses_total",
    "agentidp_analytics_aggregation_job_duration_ms",
    "agentidp_analytics_aggregation_job_last_run",
)


def test_orbits_own_request_metrics_stay_at_its_metrics_endpoint(orbit_env: dict[str, str], tmp_path: Path) -> None:
    # A fresh interpreter, as a deployment runs one Orbit per process: prometheus-flask-exporter
    # counts requests only for the first app that registers its metrics on the default registry,
    # and a test process has usually built other Orbits (its schema template among them) before.
    run = python(
        orbit_env,
        "from foreign_host.orbit_idp import create_app",
        "client = create_app().test_client()",
        "assert client.get('/signin').status_code == 200",
        "print(client.get('/metrics').get_data(as_text=True))",
        cwd=tmp_path,
    )

    assert run.returncode == 0, run.output
    assert 'flask_http_request_total{method="GET",status="200"}' in run.output


def _samples(exposition: str) -> dict[str, float]:
    return {
        f"{sample.name}{sorted(sample.labels.items())}": sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def test_the_spec_metrics_are_at_orbits_metrics_endpoint(orbit: Flask, world: World) -> None:
    client = orbit.test_client()
    api_get(client, "/analytics/usage-summary", world.acme_key)

    exposition = client.get("/metrics").get_data(as_text=True)

    assert [name for name in SPEC_METRICS if name not in exposition] == []


def test_the_metrics_at_orbits_endpoint_count_this_apps_requests(orbit: Flask, world: World) -> None:
    client = orbit.test_client()
    api_get(client, "/analytics/usage-summary", world.acme_key)
    api_get(client, "/analytics/usage-summary", world.acme_key)

    samples = _samples(client.get("/metrics").get_data(as_text=True))

    assert samples.get("agentidp_analytics_cache_misses_total[('endpoint', 'usage-summary')]") == 1
    assert samples.get("agentidp_analytics_cache_hits_total[('endpoint', 'usage-summary')]") == 1


def test_each_of_many_apps_in_one_process_counts_only_its_own_requests(
    orbit: Flask, world: World, make_orbit: MakeOrbit
) -> None:
    latest = [make_orbit() for _ in range(2)][-1]
    api_get(latest.test_client(), "/analytics/usage-summary", world.acme_key)

    misses = [
        _samples(app.test_client().get("/metrics").get_data(as_text=True)).get(
            "agentidp_analytics_cache_misses_total[('endpoint', 'usage-summary')]"
        )
        for app in (orbit, latest)
    ]

    assert misses == [0, 1]


def test_labelled_series_are_at_orbits_metrics_endpoint_from_start_up(make_orbit: MakeOrbit) -> None:
    samples = _samples(make_orbit().test_client().get("/metrics").get_data(as_text=True))

    assert samples.get("agentidp_analytics_cache_hits_total[('endpoint', 'token-trends')]") == 0


def test_handing_the_plugin_the_default_registry_lets_orbit_build_many_apps(
    orbit_env: dict[str, str], tmp_path: Path
) -> None:
    # A fresh interpreter: the default registry is process-wide, and this test fills it.
    run = python(
        orbit_env,
        "from prometheus_client import REGISTRY",
        "from foreign_host.orbit_idp import create_app",
        "apps = [create_app({'ANALYTICS_METRICS_REGISTRY': REGISTRY}) for _ in range(3)]",
        "print(apps[-1].test_client().get('/metrics').get_data(as_text=True))",
        cwd=tmp_path,
    )

    assert run.returncode == 0, run.output
    assert "agentidp_analytics_cache_misses_total" in run.output


def test_the_last_run_gauge_reports_a_run_made_by_another_process(
    orbit: Flask, world: World, orbit_env: dict[str, str], tmp_path: Path
) -> None:
    assert flask(orbit_env, "analytics", "aggregate", cwd=tmp_path).returncode == 0

    samples = _samples(orbit.test_client().get("/metrics").get_data(as_text=True))

    assert samples.get("agentidp_analytics_aggregation_job_last_run[]", 0) > time.time() - 600
