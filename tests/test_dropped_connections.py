"""PostgreSQL dropping connections mid-request: the answer stands, in the plugin's shape, never an HTML 500.

The host's resolver opens the host's session; PostgreSQL then terminates that
connection (``pg_terminate_backend``, as a failover or an operator does)
after the view has answered and before teardown rolls the session back. The
test host is real, the termination is real; only its moment is chosen, by an
``after_request`` hook of the test.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.serving import make_server

from agentidp_analytics_plugin import errors
from api_fixtures import Api, days_ago
from host_app import HostData


class SessionKiller:
    """Terminates the backend of the host session's connection once the view has answered."""

    def __init__(self, app: Flask, url: str) -> None:
        self.admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        self.terminated: list[int] = []
        session = app.extensions["sqlalchemy"].session

        @app.after_request
        def terminate(response: Any) -> Any:
            if session.registry.has() and session().in_transaction():
                pid = session.connection().connection.dbapi_connection.info.backend_pid
                with self.admin.connect() as conn:
                    conn.execute(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
                self.terminated.append(pid)
            return response


@pytest.fixture
def scenario(pg_app: Flask, pg_url: str) -> Iterator[tuple[Flask, HostData, Any, SessionKiller]]:
    host = HostData(pg_app)
    tenant = host.tenant()
    agent = host.agent(tenant)
    host.events([(tenant, agent, days_ago(1), "api_calls", 9)])
    Api(pg_app).aggregate([days_ago(1)])
    killer = SessionKiller(pg_app, pg_url)
    yield pg_app, host, tenant, killer
    killer.admin.dispose()


def test_the_api_answer_stands_when_the_host_session_dies_before_teardown(scenario):
    app, host, tenant, killer = scenario
    response = app.test_client().get(
        "/analytics/usage-summary", headers={"Authorization": f"Bearer {host.token(tenant)}"}
    )
    assert killer.terminated, "the host session's connection was never terminated"
    assert response.status_code == 200
    assert response.get_json()["summary"]["totalApiCalls"] == 9


def test_a_tab_panel_stands_when_the_host_session_dies_before_teardown(scenario):
    app, _, tenant, killer = scenario
    client = app.test_client()
    with client.session_transaction() as session:
        session["tenant_id"] = str(tenant)
    response = client.get("/analytics/fragments/summary", headers={"HX-Request": "true"})
    assert killer.terminated
    assert response.status_code == 200
    assert "9" in response.get_data(as_text=True)


def test_the_next_request_after_a_dropped_connection_succeeds(scenario):
    app, host, tenant, killer = scenario
    headers = {"Authorization": f"Bearer {host.token(tenant)}"}
    app.test_client().get("/analytics/usage-summary", headers=headers)
    killer.terminated.clear()
    response = app.test_client().get("/analytics/token-trends", headers=headers)
    assert response.status_code == 200


# -- the last resort: whatever still fails after the view, outside any handler ---------------


@pytest.fixture
def served(pg_app: Flask) -> Iterator[tuple[Flask, str]]:
    """The app behind a real WSGI server (the test client re-raises what a server would answer)."""
    pg_app.testing = False
    pg_app.config["PROPAGATE_EXCEPTIONS"] = False
    server = make_server("127.0.0.1", 0, pg_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield pg_app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as failed:
        return failed.code, dict(failed.headers), failed.read()


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        (sa.exc.OperationalError("ROLLBACK", {}, Exception("connection closed")), 503, "SERVICE_UNAVAILABLE"),
        (RuntimeError("a host extension broke"), 500, "INTERNAL_ERROR"),
    ],
    ids=["database", "anything-else"],
)
def test_a_failure_after_the_view_still_answers_json(served, failure, status, code):
    app, base = served
    host = HostData(app)
    tenant = host.tenant()

    @app.teardown_request
    def broken_host_teardown(_exc: Any) -> None:
        raise failure

    got, headers, body = fetch(f"{base}/analytics/usage-summary", {"Authorization": f"Bearer {host.token(tenant)}"})
    assert got == status
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"]["code"] == code
    if status == 503:
        assert headers["Retry-After"] == str(errors.OUTAGE_RETRY_AFTER)


def test_a_failure_after_a_fragment_still_answers_the_inline_panel(served):
    app, base = served

    @app.teardown_request
    def broken_host_teardown(_exc: Any) -> None:
        raise sa.exc.OperationalError("ROLLBACK", {}, Exception("server closed the connection"))

    got, headers, body = fetch(f"{base}/analytics/fragments/summary", {"HX-Request": "true"})
    assert got == 200  # htmx swaps only successful answers
    assert headers["Content-Type"].startswith("text/html")
    assert "unavailable right now" in body.decode()


def test_paths_outside_the_prefix_are_left_to_the_host(served):
    app, base = served

    @app.teardown_request
    def broken_host_teardown(_exc: Any) -> None:
        raise RuntimeError("a host extension broke")

    got, headers, _ = fetch(f"{base}/")
    assert got == 500
    assert not headers.get("Content-Type", "").startswith("application/json")
