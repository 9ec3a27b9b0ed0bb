"""An unreachable database is an outage to report, never a crash or a lost answer."""

from __future__ import annotations

import logging
import uuid

import pytest

from agentidp_analytics_plugin import errors
from host_app import create_host_app

TENANT = uuid.uuid4()

#: Real connections that fail: nothing listens on port 1, and SQLite cannot open a file in a missing folder.
UNREACHABLE = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:1/analytics?connect_timeout=2",
    "sqlite": "sqlite:////nonexistent-folder/analytics.sqlite",
}


def a_paying_tenant(_request):
    return TENANT, "pro"


@pytest.fixture(params=sorted(UNREACHABLE))
def down_app(request):
    return create_host_app(
        UNREACHABLE[request.param],
        ANALYTICS_API_TENANT_RESOLVER=a_paying_tenant,
        ANALYTICS_UI_TENANT_RESOLVER=a_paying_tenant,
    )


@pytest.mark.parametrize("endpoint", ["usage-summary", "agent-activity", "token-trends"])
def test_the_api_answers_503_service_unavailable_with_retry_after(down_app, endpoint):
    response = down_app.test_client().get(f"/analytics/{endpoint}", headers={"Authorization": "Bearer x"})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == errors.SERVICE_UNAVAILABLE
    assert response.headers["Retry-After"] == str(errors.OUTAGE_RETRY_AFTER)


def test_a_host_resolver_that_needs_the_database_gets_the_same_503():
    app = create_host_app(UNREACHABLE["postgresql"])  # the test host looks tokens up in its database
    response = app.test_client().get("/analytics/usage-summary", headers={"Authorization": "Bearer x"})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == errors.SERVICE_UNAVAILABLE


@pytest.mark.parametrize("panel", ["summary", "heatmap", "trends", "rotations"])
def test_a_tab_panel_shows_the_outage_inline(down_app, panel):
    response = down_app.test_client().get(f"/analytics/fragments/{panel}", headers={"HX-Request": "true"})
    assert response.status_code == 200  # htmx swaps only successful answers
    assert "unavailable right now" in response.get_data(as_text=True)


def test_the_full_tab_page_shows_the_outage_inline_in_the_hosts_layout(down_app):
    response = down_app.test_client().get("/analytics/")
    html = response.get_data(as_text=True)
    assert response.status_code == 503 and response.mimetype == "text/html"
    assert response.headers["Retry-After"] == str(errors.OUTAGE_RETRY_AFTER)
    assert "<nav>" in html  # the host's page around it
    assert 'data-error-code="SERVICE_UNAVAILABLE"' in html and "unavailable right now" in html


def test_other_database_errors_are_not_disguised_as_outages():
    from sqlalchemy import exc as sa_exc

    with pytest.raises(sa_exc.ProgrammingError), errors.database_outage_as_503():
        raise sa_exc.ProgrammingError("SELECT", {}, Exception("syntax error"))


def test_an_outage_writes_one_warning_not_one_per_request(down_app, caplog, monkeypatch):
    monkeypatch.setattr(errors, "outage_log", errors.ThrottledWarning(errors.log, errors.OUTAGE_LOG_INTERVAL))
    errors.log.disabled = False  # Alembic's fileConfig in other tests disables existing loggers
    client = down_app.test_client()
    with caplog.at_level(logging.WARNING, logger=errors.log.name):
        for _ in range(30):
            assert client.get("/analytics/usage-summary", headers={"Authorization": "Bearer x"}).status_code == 503
    warnings = [r for r in caplog.records if r.name == errors.log.name]
    assert len(warnings) == 1
    assert "unavailable" in warnings[0].getMessage()


def test_the_next_outage_warning_counts_the_ones_held_back(caplog):
    now = [0.0]
    throttled = errors.ThrottledWarning(errors.log, 60, clock=lambda: now[0])
    errors.log.disabled = False
    with caplog.at_level(logging.WARNING, logger=errors.log.name):
        for _ in range(5):
            throttled.warn("database unavailable: %s", "connection refused")
        now[0] = 61.0
        throttled.warn("database unavailable: %s", "connection refused")
    messages = [r.getMessage() for r in caplog.records if r.name == errors.log.name]
    assert messages == [
        "database unavailable: connection refused",
        "database unavailable: connection refused (4 more like it in the last 60 s)",
    ]
