"""Where the plugin sits in the host: URL prefix, routes in its way, the nav entry."""

from __future__ import annotations

import logging

import pytest
from flask import Flask, render_template_string

from api_fixtures import Api
from host_app import HostData

#: A host's module-level default, handed to every create_app() as it is.
SHARED_NAV = [{"label": "Agents", "endpoint": "home", "visible": None}]


@pytest.fixture
def mount_log(caplog):
    logging.getLogger("agentidp_analytics_plugin.mounting").disabled = False
    caplog.set_level("WARNING", logger="agentidp_analytics_plugin.mounting")
    return caplog


def test_three_apps_built_from_one_nav_list_get_one_entry_each(app, make_app):
    apps = [make_app(DASHBOARD_NAV=SHARED_NAV) for _ in range(3)]
    for built in apps:
        assert [e["label"] for e in built.config["DASHBOARD_NAV"]] == ["Agents", "Analytics"]
    assert SHARED_NAV == [{"label": "Agents", "endpoint": "home", "visible": None}]


@pytest.mark.parametrize(("flag", "shown"), [(True, True), ("off", False), ("yes", True), (False, False)])
def test_the_nav_entry_renders_with_a_plain_if_visible(app, flag, shown):
    template = "{% for item in config.DASHBOARD_NAV %}{% if item.visible %}[{{ item.label }}]{% endif %}{% endfor %}"
    app.config["ANALYTICS_ENABLED"] = flag  # flipped at runtime, a string too
    with app.test_request_context():
        assert ("[Analytics]" in render_template_string(template)) is shown


def test_the_url_prefix_is_configurable(make_app):
    app = make_app(ANALYTICS_URL_PREFIX="/insights/")
    host = HostData(app)
    client = app.test_client()
    token = host.token(host.tenant())
    assert client.get("/insights/usage-summary", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get("/analytics/usage-summary", headers={"Authorization": f"Bearer {token}"}).status_code == 404
    with app.test_request_context():
        from flask import url_for

        assert url_for("agentidp_analytics.tab") == "/insights/"


def a_host_export_route(app: Flask) -> None:
    app.add_url_rule("/analytics/export", "host_export", lambda: "host export")


def test_a_host_route_under_the_prefix_is_reported_at_start_up(app, make_app, mount_log):
    make_app(before_plugins=a_host_export_route)
    (message,) = [r.getMessage() for r in mount_log.records]
    assert "/analytics/export" in message and "'host_export'" in message and "ANALYTICS_URL_PREFIX" in message


def test_a_host_route_added_after_the_plugin_is_reported_on_the_first_request(app, make_app, mount_log):
    late = make_app()
    a_host_export_route(late)
    late.test_client().get("/")
    late.test_client().get("/")
    (message,) = [r.getMessage() for r in mount_log.records]
    assert "/analytics/export" in message and "'host_export'" in message


def test_the_plugin_does_not_report_its_own_routes(app, make_app, mount_log):
    make_app()
    app.test_client().get("/")
    assert not mount_log.records


@pytest.mark.parametrize("path", ["/analytics", "/analytics/", "/analytics/usage-summary"])
def test_with_analytics_off_every_plugin_path_is_the_hosts_404(make_app, path):
    app = make_app(ANALYTICS_ENABLED="false")
    assert app.test_client().get(path).status_code == 404


def test_with_analytics_on_the_prefix_without_slash_leads_to_the_tab(app):
    response = app.test_client().get("/analytics")
    assert response.status_code == 308
    assert response.headers["Location"].endswith("/analytics/")


def test_the_api_still_answers_under_the_default_prefix(app):
    assert Api(app).get("usage-summary").status_code == 401


def test_after_the_first_request_no_plugin_hook_runs_on_the_hosts_requests(make_app):
    app = make_app(ANALYTICS_METRICS_ENABLED=False)
    app.test_client().get("/")
    app_wide = [
        hook
        for registry in (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs)
        for hook in registry.get(None, ())
    ]
    assert [h for h in app_wide if h.__module__.startswith("agentidp_analytics_plugin")] == []
