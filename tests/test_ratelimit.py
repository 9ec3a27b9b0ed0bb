"""Rate limits: per tenant after authentication, per address before it, 429 with Retry-After."""

from __future__ import annotations

import sys

import pytest
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from api_fixtures import Api
from host_app import HostData
from ui_helpers import log_in


@pytest.fixture
def limited(make_app, api_config):
    app = make_app(
        **{**api_config, "ANALYTICS_RATELIMIT": "3 per minute", "ANALYTICS_RATELIMIT_UNAUTHENTICATED": "2 per minute"}
    )
    host = HostData(app)
    return Api(app), host


def _tenant(host: HostData, tier: str = "pro") -> str:
    return host.token(host.tenant(tier=tier))


def test_over_the_limit_a_tenant_gets_429_rate_limited_with_retry_after(limited):
    api, host = limited
    token = _tenant(host)
    assert [api.get("usage-summary", token).status_code for _ in range(3)] == [200] * 3
    response = api.get("token-trends", token)
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_the_limit_is_per_tenant(limited):
    api, host = limited
    first, second = _tenant(host), _tenant(host)
    for _ in range(4):
        api.get("usage-summary", first)
    assert api.get("usage-summary", second).status_code == 200


def test_unauthenticated_requests_are_limited_per_address(limited):
    api, host = limited
    assert [api.get("usage-summary", "bad").status_code for _ in range(2)] == [401, 401]
    response = api.get("usage-summary", "bad")
    assert response.status_code == 429 and "Retry-After" in response.headers
    assert api.get("usage-summary", _tenant(host)).status_code == 200


def test_free_tier_refusals_do_not_use_the_limit(limited):
    api, host = limited
    token = _tenant(host, tier="free")
    assert {api.get("usage-summary", token).status_code for _ in range(5)} == {403}


def test_invalid_parameters_still_count(limited):
    api, host = limited
    token = _tenant(host)
    for _ in range(3):
        assert api.get("token-trends", token, granularity="x").status_code == 400
    assert api.get("token-trends", token).status_code == 429


def test_limits_are_shared_through_redis_between_app_instances(limited, make_app, api_config):
    api, host = limited
    token = _tenant(host)
    other = Api(make_app(**{**api_config, "ANALYTICS_RATELIMIT": "3 per minute"}))
    for _ in range(3):
        api.get("usage-summary", token)
    assert other.get("usage-summary", token).status_code == 429


def test_the_tabs_limit_is_shared_through_redis_between_app_instances(make_app, api_config):
    first = make_app(**{**api_config, "ANALYTICS_RATELIMIT_UI": "2 per minute"})
    second = make_app(**{**api_config, "ANALYTICS_RATELIMIT_UI": "2 per minute"})
    tenant = HostData(first).tenant()
    for app in (first, second):
        assert "RATE_LIMITED" not in _fragment(app, tenant)
    assert 'data-error-code="RATE_LIMITED"' in _fragment(first, tenant)


def _fragment(app, tenant) -> str:
    client = log_in(app.test_client(), tenant)
    return client.get("/analytics/fragments/summary", headers={"HX-Request": "true"}).get_data(as_text=True)


def test_limits_can_be_turned_off(make_app, api_config):
    app = make_app(**{**api_config, "ANALYTICS_RATELIMIT": "1 per minute", "ANALYTICS_RATELIMIT_ENABLED": False})
    api, host = Api(app), HostData(app)
    token = _tenant(host)
    assert {api.get("usage-summary", token).status_code for _ in range(3)} == {200}


def test_host_routes_are_never_limited_by_the_plugin(make_app, api_config):
    app = make_app(
        **{**api_config, "ANALYTICS_RATELIMIT_UNAUTHENTICATED": "1 per minute", "RATELIMIT_DEFAULT": "1 per minute"}
    )
    client = app.test_client()
    assert {client.get("/").status_code for _ in range(3)} == {200}


def _modules_run(request) -> set[str]:
    """The modules whose Python functions ran during ``request()``."""
    ran: set[str] = set()

    def note(frame, event, _arg) -> None:
        if event == "call":
            ran.add(frame.f_globals.get("__name__", ""))

    sys.setprofile(note)
    try:
        request()
    finally:
        sys.setprofile(None)
    return ran


def _limiter_code(modules: set[str]) -> set[str]:
    return {name for name in modules if name.startswith("flask_limiter") or name.endswith(".ratelimit")}


def test_a_host_request_runs_none_of_the_plugins_rate_limiting_code(make_app, api_config):
    app = make_app(**api_config)
    api, host = Api(app), HostData(app)
    token = _tenant(host)
    client = app.test_client()
    client.get("/")  # the app's first request, which still sets things up

    on_host = _modules_run(lambda: client.get("/"))
    on_plugin = _modules_run(lambda: api.get("usage-summary", token))

    assert _limiter_code(on_plugin)  # the probe sees the limiter where it runs
    assert _limiter_code(on_host) == set()


def test_unreachable_limit_storage_lets_requests_through(make_app, api_config):
    app = make_app(**{**api_config, "ANALYTICS_RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0"})
    api, host = Api(app), HostData(app)
    assert api.get("usage-summary", _tenant(host)).status_code == 200


def _host_limiter(app, **options):
    return Limiter(get_remote_address, app=app, storage_uri="memory://", **options)


@pytest.mark.parametrize("order", ["before_plugins", "after_plugins"])
def test_the_hosts_default_limits_never_count_the_plugins_routes(make_app, api_config, order):
    limit = {"default_limits": ["2 per minute"], "application_limits": ["3 per minute"]}
    if order == "before_plugins":
        app = make_app(**api_config, before_plugins=lambda host_app: _host_limiter(host_app, **limit))
    else:
        app = make_app(**api_config)
        _host_limiter(app, **limit)
    host = HostData(app)
    api, tab = Api(app), log_in(app.test_client(), host.tenant())
    token = _tenant(host)

    plugin = [api.get("usage-summary", token).status_code for _ in range(4)]
    plugin += [tab.get("/analytics/fragments/summary", headers={"HX-Request": "true"}).status_code for _ in range(4)]
    host_pages = [app.test_client().get("/").status_code for _ in range(3)]

    assert plugin == [200] * 8
    assert host_pages == [200, 200, 429]


def test_a_limit_the_host_puts_on_the_plugins_blueprint_answers_in_the_apis_shape(make_app, api_config):
    app = make_app(**api_config)
    _host_limiter(app).limit("1 per minute")(app.blueprints["agentidp_analytics"])
    api, host = Api(app), HostData(app)
    token = _tenant(host)

    responses = [api.get("usage-summary", token) for _ in range(2)]

    assert [r.status_code for r in responses] == [200, 429]
    assert (responses[1].mimetype, responses[1].get_json()["error"]["code"]) == ("application/json", "RATE_LIMITED")
    assert int(responses[1].headers["Retry-After"]) == 60


def test_a_limit_the_host_puts_on_the_plugins_blueprint_shows_in_the_tabs_panel(make_app, api_config):
    app = make_app(**api_config)
    _host_limiter(app).limit("1 per minute")(app.blueprints["agentidp_analytics"])
    client = log_in(app.test_client(), HostData(app).tenant())

    client.get("/analytics/fragments/summary", headers={"HX-Request": "true"})
    response = client.get("/analytics/fragments/summary", headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert 'data-error-code="RATE_LIMITED"' in response.get_data(as_text=True)
