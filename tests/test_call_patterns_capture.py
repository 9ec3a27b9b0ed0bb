"""The call-pattern hook: what it counts, in which bucket, and what it never does to the host's request.

Counts are read back from ``analytics_call_patterns`` after the process ships
its buffer (no Redis here: straight into the table, on SQLite and PostgreSQL).
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import g, request

from agentidp_analytics_plugin import capture
from agentidp_analytics_plugin.call_buckets import ROUTE_MAX, UNMATCHED
from agentidp_analytics_plugin.state import get_state
from call_pattern_helpers import CAPTURE_CONFIG, CREDENTIALS_ROUTE, add_api_routes, caller, stored, total_calls
from host_app import HostData


@pytest.fixture
def capture_app(make_app):
    return make_app(before_plugins=add_api_routes, **CAPTURE_CONFIG)


@pytest.fixture
def host(capture_app):
    """The host's rows, written through the app under test (pytest-flask pushes the 'app' fixture's context)."""
    return HostData(capture_app)


def _ship(app) -> None:
    assert get_state(app).call_patterns.counts.ship()


def test_the_hook_is_off_by_default(make_app):
    app = make_app(before_plugins=add_api_routes)
    assert get_state(app).call_patterns is None
    tenant = HostData(app).tenant()
    app.test_client().get(f"/api/agents/{uuid.uuid4()}/credentials", headers=caller(tenant))
    assert total_calls(app) == 0


def test_calls_are_counted_per_route_template_method_status_and_agent(capture_app, host):
    tenant = host.tenant()
    agent = host.agent(tenant, "deployer")
    client = capture_app.test_client()
    for _ in range(3):
        client.get(f"/api/agents/{uuid.uuid4()}/credentials", headers=caller(tenant, agent))
    client.post(f"/api/agents/{uuid.uuid4()}/credentials", headers=caller(tenant, agent))
    client.get("/api/fail/503", headers=caller(tenant))
    _ship(capture_app)
    rows = stored(capture_app)
    assert {key: calls for key, (calls, _) in rows.items()} == {
        (agent, "GET", CREDENTIALS_ROUTE, "2xx"): 3,
        (agent, "POST", CREDENTIALS_ROUTE, "2xx"): 1,
        (None, "GET", "/api/fail/<int:code>", "5xx"): 1,
    }


def test_a_view_that_raises_counts_as_the_5xx_flask_answers(capture_app, host):
    tenant = host.tenant()
    capture_app.config["PROPAGATE_EXCEPTIONS"] = False
    response = capture_app.test_client().get("/api/crash", headers=caller(tenant))
    assert response.status_code == 500
    _ship(capture_app)
    assert {key: calls for key, (calls, _) in stored(capture_app).items()} == {(None, "GET", "/api/crash", "5xx"): 1}


def test_latency_is_summed_per_bucket(capture_app, host):
    tenant = host.tenant()
    client = capture_app.test_client()
    for _ in range(2):
        client.get(f"/api/agents/{uuid.uuid4()}/credentials", headers=caller(tenant))
    _ship(capture_app)
    ((calls, latency),) = stored(capture_app).values()
    assert calls == 2 and latency > 0


def test_requests_the_resolver_does_not_claim_are_not_counted(capture_app, host):
    capture_app.test_client().get(f"/api/agents/{uuid.uuid4()}/credentials")
    _ship(capture_app)
    assert total_calls(capture_app) == 0


def test_the_plugins_own_routes_are_never_counted(capture_app, host):
    tenant = host.tenant()
    client = capture_app.test_client()
    for path in ("/analytics/usage-summary", "/analytics/", "/analytics/no-such-page", "/metrics"):
        client.get(path, headers=caller(tenant))
    _ship(capture_app)
    assert total_calls(capture_app) == 0


def test_unknown_paths_of_any_length_or_encoding_share_one_bucket(capture_app, host):
    tenant = host.tenant()
    client = capture_app.test_client()
    for n in range(50):
        client.get(f"/api/unknown/{n}", headers=caller(tenant))
    client.get("/" + "a" * 20000, headers=caller(tenant))
    # Raw bytes that are not UTF-8, as a WSGI server hands them over (latin-1 decoded).
    client.get("/", headers=caller(tenant), environ_overrides={"PATH_INFO": "/api/\xff\xfe\x00/%ff"})
    _ship(capture_app)
    assert {key: calls for key, (calls, _) in stored(capture_app).items()} == {(None, "GET", UNMATCHED, "4xx"): 52}


def test_an_unknown_method_counts_as_other(capture_app, host):
    tenant = host.tenant()
    capture_app.test_client().open("/api/fail/400", method="BREW", headers=caller(tenant))
    _ship(capture_app)
    assert list(stored(capture_app)) == [(None, "OTHER", "/api/fail/<int:code>", "4xx")]


def test_a_method_the_route_refuses_counts_under_the_unmatched_route(capture_app, host):
    tenant = host.tenant()
    capture_app.test_client().delete(f"/api/agents/{uuid.uuid4()}/credentials", headers=caller(tenant))
    _ship(capture_app)
    assert list(stored(capture_app)) == [(None, "DELETE", UNMATCHED, "4xx")]


def test_a_route_template_longer_than_the_column_is_cut(capture_app, host):
    tenant = host.tenant()
    capture_app.test_client().get("/api/" + "x" * 300, headers=caller(tenant))
    _ship(capture_app)
    ((_, _, route, _),) = stored(capture_app)
    assert route == ("/api/" + "x" * 300)[:ROUTE_MAX]


def test_a_resolver_that_raises_never_fails_the_hosts_request(make_app):
    def broken(_request):
        raise RuntimeError("host bug")

    app = make_app(before_plugins=add_api_routes, **{**CAPTURE_CONFIG, "ANALYTICS_CALL_PATTERNS_RESOLVER": broken})
    response = app.test_client().get(f"/api/agents/{uuid.uuid4()}/credentials")
    assert response.status_code == 200 and response.get_data(as_text=True) == "ok"
    registry = get_state(app).metrics.registry
    assert registry.get_sample_value("agentidp_analytics_call_pattern_errors_total", {"stage": "capture"}) == 1


class _WallClock:
    """The wall clock the hook reads (``time.time``), set by the test; everything else in ``time`` is real."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __getattr__(self, name: str):
        return getattr(time, name)

    def time(self) -> float:
        return self.now


def _days(app) -> dict[date, int]:
    with app.app_context():
        engine = app.extensions["sqlalchemy"].engine
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT date, SUM(calls) FROM analytics_call_patterns GROUP BY date")).all()
    return {(d if isinstance(d, date) else date.fromisoformat(d)): int(n) for d, n in rows}


@pytest.mark.parametrize(
    "first, then, wait",
    [
        # The day ends at midnight, before the hook's once-a-second look at the wall clock.
        pytest.param(-0.3, 0.2, 0.35, id="across-midnight"),
        # A wall clock set back is seen within a second.
        pytest.param(0.2, -0.3, capture.DAY_RECHECK_SECONDS + 0.05, id="wall-clock-set-back-across-midnight"),
    ],
)
def test_each_call_counts_on_the_utc_day_its_answer_leaves(capture_app, host, monkeypatch, first, then, wait):
    midnight = datetime(2026, 11, 27, tzinfo=UTC)
    wall = _WallClock(midnight.timestamp() + first)
    monkeypatch.setattr(capture, "time", wall)
    tenant = host.tenant()
    client = capture_app.test_client()
    client.get(f"/api/agents/{uuid.uuid4()}/credentials", headers=caller(tenant))
    wall.now = midnight.timestamp() + then
    time.sleep(wait)
    client.get(f"/api/agents/{uuid.uuid4()}/credentials", headers=caller(tenant))
    _ship(capture_app)
    day_of = lambda offset: (midnight + timedelta(seconds=offset)).date()  # noqa: E731
    assert _days(capture_app) == {day_of(first): 1, day_of(then): 1}


def test_the_process_holds_one_entry_per_bucket_not_per_call(capture_app, host):
    tenant = host.tenant()
    client = capture_app.test_client()
    for _ in range(50):
        client.get(f"/api/agents/{uuid.uuid4()}/credentials", headers=caller(tenant))
    counts = get_state(capture_app).call_patterns.counts
    assert (len(counts._live), counts.pending()) == (1, 50)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forking servers (gunicorn) only exist where os.fork does")
def test_a_forked_worker_starts_its_own_shipper_thread(capture_app, host):
    tenant = host.tenant()
    client = capture_app.test_client()
    client.get(f"/api/agents/{uuid.uuid4()}/credentials", headers=caller(tenant))  # the parent's thread runs
    counts = get_state(capture_app).call_patterns.counts
    assert counts._thread is not None and counts._thread.is_alive()
    pid = os.fork()
    if pid == 0:  # the child: exits with 0 only if its own thread ships its calls
        code = 1
        try:
            client.get(f"/api/agents/{uuid.uuid4()}/credentials", headers=caller(tenant))
            thread = counts._thread
            code = 0 if thread is not None and thread.is_alive() and counts.pending() >= 1 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forking servers (gunicorn) only exist where os.fork does")
def test_a_forked_child_holds_only_its_own_calls(capture_app, host):
    tenant = host.tenant()
    client = capture_app.test_client()
    for _ in range(2):  # held by the parent, not shipped yet
        client.get(f"/api/agents/{uuid.uuid4()}/credentials", headers=caller(tenant))
    counts = get_state(capture_app).call_patterns.counts
    pid = os.fork()
    if pid == 0:  # the child: exits with 0 only if it holds its one call and none of the parent's
        code = 1
        try:
            held_at_fork = counts.pending()
            client.get(f"/api/agents/{uuid.uuid4()}/credentials", headers=caller(tenant))
            code = 0 if (held_at_fork, counts.pending()) == (0, 1) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    _ship(capture_app)
    assert total_calls(capture_app) == 2


def _caller_in_g(app):
    """The host's authentication leaves who called in g.api_caller, as the reference host does."""
    add_api_routes(app)

    @app.before_request
    def authenticate():
        tenant = request.headers.get("X-Tenant")
        if tenant:
            g.api_caller = (tenant, request.headers.get("X-Agent") or None)


def test_the_caller_the_host_left_in_g_is_counted_without_a_resolver(make_app):
    config = {k: v for k, v in CAPTURE_CONFIG.items() if k != "ANALYTICS_CALL_PATTERNS_RESOLVER"}
    app = make_app(before_plugins=_caller_in_g, ANALYTICS_CALL_PATTERNS_CALLER_ATTR="api_caller", **config)
    host = HostData(app)
    tenant = host.tenant()
    agent = host.agent(tenant, "deployer")
    client = app.test_client()
    client.get(f"/api/agents/{uuid.uuid4()}/credentials", headers=caller(tenant, agent))
    client.get(f"/api/agents/{uuid.uuid4()}/credentials")  # nobody in g: not counted
    _ship(app)
    assert {key: calls for key, (calls, _) in stored(app).items()} == {(agent, "GET", CREDENTIALS_ROUTE, "2xx"): 1}


def test_the_caller_in_g_is_read_through_flasks_proxies_on_a_flask_without_its_context_variables(make_app, monkeypatch):
    monkeypatch.delattr("flask.globals._cv_request")
    monkeypatch.delattr("flask.globals._cv_app")
    config = {k: v for k, v in CAPTURE_CONFIG.items() if k != "ANALYTICS_CALL_PATTERNS_RESOLVER"}
    app = make_app(before_plugins=_caller_in_g, ANALYTICS_CALL_PATTERNS_CALLER_ATTR="api_caller", **config)
    host = HostData(app)
    tenant = host.tenant()
    agent = host.agent(tenant, "deployer")
    app.test_client().get(f"/api/agents/{uuid.uuid4()}/credentials", headers=caller(tenant, agent))
    _ship(app)
    assert {key: calls for key, (calls, _) in stored(app).items()} == {(agent, "GET", CREDENTIALS_ROUTE, "2xx"): 1}


def test_without_its_own_resolver_the_api_tenant_counts_without_an_agent(make_app):
    config = {k: v for k, v in CAPTURE_CONFIG.items() if k != "ANALYTICS_CALL_PATTERNS_RESOLVER"}
    app = make_app(before_plugins=add_api_routes, **config)
    host = HostData(app)
    tenant = host.tenant()
    token = host.token(tenant)
    app.test_client().get(f"/api/agents/{uuid.uuid4()}/credentials", headers={"Authorization": f"Bearer {token}"})
    _ship(app)
    assert list(stored(app)) == [(None, "GET", CREDENTIALS_ROUTE, "2xx")]


def test_counts_of_a_deleted_tenant_are_dropped_not_retried_forever(capture_app, host):
    tenant = host.tenant()
    capture_app.test_client().get(f"/api/agents/{uuid.uuid4()}/credentials", headers=caller(tenant))
    host.delete_tenant(tenant)
    _ship(capture_app)
    assert get_state(capture_app).call_patterns.counts.pending() == 0
    assert total_calls(capture_app) == 0


def _spelled(request):
    """The test host's caller, the tenant as a UUID or as its text, as the request asks."""
    tenant = request.headers["X-Tenant"]
    return (uuid.UUID(tenant) if request.headers.get("X-Spelling") == "uuid" else tenant.upper()), None


def test_one_tenant_given_as_a_uuid_and_as_text_counts_in_one_bucket(make_app):
    app = make_app(before_plugins=add_api_routes, **{**CAPTURE_CONFIG, "ANALYTICS_CALL_PATTERNS_RESOLVER": _spelled})
    tenant = HostData(app).tenant()
    client = app.test_client()
    for spelling in ("uuid", "text", "uuid"):
        client.get(f"/api/agents/{uuid.uuid4()}/credentials", headers={**caller(tenant), "X-Spelling": spelling})
    _ship(app)
    assert {key: calls for key, (calls, _) in stored(app).items()} == {(None, "GET", CREDENTIALS_ROUTE, "2xx"): 3}


@pytest.mark.parametrize(
    "answer", [("tenant-7", None), "tenant and agent"], ids=["an id that is not a uuid", "not a pair"]
)
def test_a_caller_that_is_not_a_pair_of_ids_is_dropped_and_counted_as_a_capture_error(make_app, answer):
    app = make_app(
        before_plugins=add_api_routes,
        **{**CAPTURE_CONFIG, "ANALYTICS_CALL_PATTERNS_RESOLVER": lambda _request: answer},
    )
    response = app.test_client().get(f"/api/agents/{uuid.uuid4()}/credentials")
    _ship(app)
    assert response.status_code == 200 and total_calls(app) == 0
    registry = get_state(app).metrics.registry
    assert registry.get_sample_value("agentidp_analytics_call_pattern_errors_total", {"stage": "capture"}) == 1
