"""Prometheus: the spec's five metrics on the host's /metrics, per-app registries, no ids as labels."""

from __future__ import annotations

import re

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from api_fixtures import Api
from host_app import HostData

SPEC_METRICS = [
    ("agentidp_analytics_query_duration_ms", "histogram"),
    ("agentidp_analytics_cache_hits_total", "counter"),
    ("agentidp_analytics_cache_misses_total", "counter"),
    ("agentidp_analytics_aggregation_job_duration_ms", "gauge"),
    ("agentidp_analytics_aggregation_job_last_run", "gauge"),
]


@pytest.fixture
def metrics_text(api, seed):
    s = seed([("alpha", 1, "api_calls", 1)])
    for endpoint in ("usage-summary", "agent-activity", "token-trends"):
        api.ok(endpoint, s.token)
        api.ok(endpoint, s.token)
    response = api.client.get("/metrics")
    assert response.status_code == 200
    return response.get_data(as_text=True), s


@pytest.mark.parametrize(("name", "kind"), SPEC_METRICS, ids=[n for n, _ in SPEC_METRICS])
def test_metrics_endpoint_exposes_the_spec_metric(metrics_text, name, kind):
    text, _ = metrics_text
    assert f"# TYPE {name} {kind}" in text


def test_hits_misses_and_durations_are_labelled_by_endpoint_only(metrics_text):
    text, scenario = metrics_text
    assert 'agentidp_analytics_cache_hits_total{endpoint="usage-summary"} 1.0' in text
    assert 'agentidp_analytics_cache_misses_total{endpoint="token-trends"} 1.0' in text
    assert 'agentidp_analytics_query_duration_ms_count{endpoint="agent-activity"} 1.0' in text
    assert str(scenario.tenant) not in text
    assert not re.search(r"(tenant|agent)(_id)?=", text)


def test_query_duration_is_observed_on_cache_misses_only(api, api_app, seed):
    s = seed([])
    for _ in range(3):
        api.ok("usage-summary", s.token)
    text = api.client.get("/metrics").get_data(as_text=True)
    assert 'agentidp_analytics_query_duration_ms_count{endpoint="usage-summary"} 1.0' in text
    assert 'agentidp_analytics_cache_hits_total{endpoint="usage-summary"} 2.0' in text


def test_the_aggregation_job_sets_its_gauges(api, api_app, seed):
    seed([("alpha", 1, "api_calls", 1)])
    text = api.client.get("/metrics").get_data(as_text=True)
    last_run = re.search(r"^agentidp_analytics_aggregation_job_last_run (\S+)$", text, re.M)
    assert last_run and float(last_run.group(1)) > 1e9


def test_two_apps_in_one_process_count_separately(make_app, api_config):
    first, second = make_app(**api_config), make_app(**api_config)
    for app in (first, second):
        host = HostData(app)
        Api(app).ok("usage-summary", host.token(host.tenant()))
    for app in (first, second):
        text = app.test_client().get("/metrics").get_data(as_text=True)
        assert 'agentidp_analytics_cache_misses_total{endpoint="usage-summary"} 1.0' in text


def test_a_host_registry_gets_the_metrics_and_no_second_endpoint(make_app):
    registry = CollectorRegistry()
    app = make_app(ANALYTICS_METRICS_REGISTRY=registry)
    assert "/metrics" not in {rule.rule for rule in app.url_map.iter_rules()}
    assert b"agentidp_analytics_cache_hits_total" in generate_latest(registry)


def test_the_metrics_path_is_configurable(make_app):
    app = make_app(ANALYTICS_METRICS_PATH="/analytics-metrics")
    assert "/analytics-metrics" in {rule.rule for rule in app.url_map.iter_rules()}


def test_metrics_can_stay_unexposed(make_app):
    app = make_app(ANALYTICS_METRICS_PATH=None)
    assert "/metrics" not in {rule.rule for rule in app.url_map.iter_rules()}


def test_an_existing_metrics_route_is_not_registered_twice(make_app):
    from agentidp_analytics_plugin import exporter

    app = make_app()
    state = app.extensions["agentidp_analytics"]
    assert exporter.expose(app, state.metrics, "/metrics", host_registry=False) is None
