"""The spec's metrics reach the host's /metrics in every way a host exposes metrics.

No exporter (the plugin answers), prometheus-flask-exporter on the default
registry (set up before or after the plugin loads), a registry of the host's
own, prometheus_client's own HTTP server; each built several times in one
process, as an app-per-test suite does. Multiprocess mode under gunicorn is in
``test_metrics_gunicorn.py``.
"""

from __future__ import annotations

import gc
import logging
import urllib.request

import pytest
from flask import Flask
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, start_http_server
from prometheus_flask_exporter import PrometheusMetrics

from agentidp_analytics_plugin import exporter
from api_fixtures import Api
from host_app import HostData, create_host_app
from metrics_helpers import SPEC_METRICS, samples, type_lines, value

MISSES = "agentidp_analytics_cache_misses_total"


def one_request(app: Flask) -> None:
    """One cache miss on usage-summary."""
    host = HostData(app)
    Api(app).ok("usage-summary", host.token(host.tenant()))


def assert_spec_metrics_once(text: str) -> None:
    for name, kind in SPEC_METRICS:
        assert type_lines(text, name) == [f"# TYPE {name} {kind}"], name
    samples(text)  # no sample twice


def host_exporter_first(app: Flask) -> None:
    PrometheusMetrics(app)


@pytest.fixture
def exporter_before_plugin(make_app):
    """A host that sets up prometheus-flask-exporter (default registry) before loading plugins."""
    return lambda **config: make_app(before_plugins=host_exporter_first, **config)


@pytest.fixture(params=["before", "after"], ids=["exporter before plugin", "exporter after plugin"])
def default_registry_host(request, make_app):
    """A host with prometheus-flask-exporter on the default registry, set up before or after the plugin."""

    def build(**config):
        if request.param == "before":
            return make_app(before_plugins=host_exporter_first, **config)
        app = make_app(**config)
        PrometheusMetrics(app)
        return app

    return build


def test_a_host_exporter_on_the_default_registry_shows_the_spec_metrics_once(default_registry_host):
    app = default_registry_host()
    one_request(app)
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert "flask_exporter_info" in text  # the host's exporter answered
    assert_spec_metrics_once(text)
    assert value(text, MISSES, endpoint="usage-summary") == 1


def test_building_the_app_many_times_with_a_default_registry_exporter_works(default_registry_host):
    apps = [default_registry_host() for _ in range(3)]
    one_request(apps[1])
    counts = [value(app.test_client().get("/metrics").get_data(as_text=True), MISSES, endpoint="usage-summary")
              for app in apps]
    assert counts == [0, 1, 0]  # each app's own numbers, read through the one default registry


def test_apps_built_and_dropped_are_not_kept_alive_by_the_metrics(app, database_url):
    collector = exporter.collector_on(REGISTRY)
    gc.collect()
    baseline = len(collector)
    for _ in range(20):
        app = create_host_app(database_url)
        with app.app_context():
            app.extensions["sqlalchemy"].engine.dispose()
    del app
    gc.collect()
    assert len(collector) == baseline


def test_a_host_registry_shows_the_metrics_and_the_plugin_adds_no_endpoint(make_app):
    registry = CollectorRegistry()
    app = make_app(ANALYTICS_METRICS_REGISTRY=registry)
    assert app.test_client().get("/metrics").status_code == 404
    assert_spec_metrics_once(generate_latest(registry).decode())


def test_one_host_registry_serves_many_builds_of_the_app(make_app):
    registry = CollectorRegistry()

    def with_host_exporter(app: Flask) -> None:
        PrometheusMetrics(app, registry=registry)

    apps = [make_app(before_plugins=with_host_exporter, ANALYTICS_METRICS_REGISTRY=registry) for _ in range(3)]
    one_request(apps[2])
    text = apps[2].test_client().get("/metrics").get_data(as_text=True)
    assert "flask_exporter_info" in text
    assert_spec_metrics_once(text)
    assert value(text, MISSES, endpoint="usage-summary") == 1


def test_prometheus_clients_own_server_shows_the_metrics_of_the_live_apps(make_app):
    gc.collect()
    app = make_app()
    one_request(app)
    server, thread = start_http_server(0, addr="127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
        thread.join(5)
    assert_spec_metrics_once(text)
    assert value(text, MISSES, endpoint="usage-summary") >= 1


def test_a_host_route_added_after_the_plugin_answers_at_its_path(make_app):
    app = make_app()
    app.add_url_rule("/metrics", "host_metrics", lambda: "the host's metrics")
    assert app.test_client().get("/metrics").get_data(as_text=True) == "the host's metrics"


def test_the_plugin_serves_its_metrics_where_the_host_has_no_route(app):
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert_spec_metrics_once(response.get_data(as_text=True))


def test_the_metrics_path_is_configurable(make_app):
    client = make_app(ANALYTICS_METRICS_PATH="/analytics-metrics").test_client()
    assert client.get("/metrics").status_code == 404
    assert_spec_metrics_once(client.get("/analytics-metrics").get_data(as_text=True))


def test_the_plugin_answers_no_metrics_path_when_it_is_none(make_app):
    app = make_app(ANALYTICS_METRICS_PATH=None)
    assert app.test_client().get("/metrics").status_code == 404


def test_the_start_up_log_says_where_the_metrics_are_when_the_host_serves_the_path(exporter_before_plugin, caplog):
    logging.getLogger("agentidp_analytics_plugin.exporter").disabled = False
    caplog.set_level("INFO", logger="agentidp_analytics_plugin.exporter")
    app = exporter_before_plugin()
    messages = [r.getMessage() for r in caplog.records if r.name == "agentidp_analytics_plugin.exporter"]
    assert len(messages) == 1
    assert "default registry" in messages[0] and "ANALYTICS_METRICS_REGISTRY" in messages[0]
    # ...and what it says is true:
    assert_spec_metrics_once(app.test_client().get("/metrics").get_data(as_text=True))


# --------------------------------------------------------------------------- keeping /metrics private

TOKEN = "s3cret-scrape-token"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x"],
    ids=["no header", "wrong token", "wrong scheme", "longer token"],
)
def test_a_metrics_token_refuses_scrapes_without_it(make_app, authorization):
    client = make_app(ANALYTICS_METRICS_TOKEN=TOKEN).test_client()
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert "agentidp_analytics" not in response.get_data(as_text=True)


def test_a_metrics_token_lets_the_scraper_in(make_app):
    client = make_app(ANALYTICS_METRICS_TOKEN=TOKEN).test_client()
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert_spec_metrics_once(response.get_data(as_text=True))
