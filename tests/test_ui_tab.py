"""The tab and its fragments in a real host app, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from agentidp_analytics_plugin.aggregation import utc_today
from host_app import HostData
from ui_helpers import count_calls, create_ui_pg_database, log_in, roll_up

PANELS = ("summary", "heatmap", "trends", "rotations", "calls")
HX = {"HX-Request": "true"}


@pytest.fixture(scope="session")
def pg_url() -> str:
    return create_ui_pg_database()


@pytest.fixture
def pro(app: Flask, host: HostData) -> dict[str, uuid.UUID]:
    """A pro tenant with two agents and a week of data."""
    today = utc_today()
    tenant = host.tenant("pro")
    busy, quiet = host.agent(tenant, "busy <b>bot</b>"), host.agent(tenant, "quiet")
    days = [today - timedelta(days=i) for i in range(1, 8)]
    rows = []
    for day in days:
        rows += [
            (tenant, busy, day, "api_calls", 50),
            (tenant, busy, day, "token_issuances", 5),
            (tenant, busy, day, "token_failures", 1),
            (tenant, quiet, day, "api_calls", 3),
        ]
    rows.append((tenant, busy, days[0], "credential_rotations", 1))
    host.events(rows)
    roll_up(app, days, today)
    count_calls(
        app,
        {
            (tenant, busy, days[0], "GET", "/api/agents/<uuid:agent_id>", "2xx"): [40, 400.0],
            (tenant, busy, days[1], "GET", "/api/agents/<uuid:agent_id>", "5xx"): [2, 80.0],
            (tenant, quiet, days[0], "POST", "/oauth/token", "2xx"): [5, 50.0],
            (tenant, quiet, days[1], "POST", "/oauth/token", "4xx"): [1, 5.0],
        },
    )
    return {"tenant": tenant, "busy": busy, "quiet": quiet}


@pytest.fixture
def pro_client(app: Flask, pro: dict) -> FlaskClient:
    return log_in(app.test_client(), pro["tenant"])


def test_tab_needs_a_signed_in_tenant(app: Flask) -> None:
    assert app.test_client().get("/analytics/").status_code == 401


def test_without_a_login_endpoint_a_signed_out_visit_gets_a_401_page_in_the_host_layout(app: Flask) -> None:
    response = app.test_client().get("/analytics/?range=7")
    html = response.get_data(as_text=True)
    assert response.status_code == 401
    assert "<nav>" in html and 'data-state="signed-out"' in html and "Sign in" in html


def test_fragment_without_session_asks_htmx_to_reload_the_page(app: Flask) -> None:
    response = app.test_client().get("/analytics/fragments/summary", headers=HX)
    assert response.status_code == 401
    assert response.headers["HX-Refresh"] == "true"


def _with_login(make_app, **config) -> Flask:
    def add_login(app: Flask) -> None:
        app.add_url_rule("/login", "login", lambda: "the host's sign-in page")

    return make_app(before_plugins=add_login, **{"ANALYTICS_LOGIN_ENDPOINT": "login", **config})


def _login_target(url: str, param: str = "next") -> tuple[str, list[str]]:
    parts = urlsplit(url)
    return parts.path, parse_qs(parts.query)[param]


def test_a_signed_out_visit_goes_to_the_login_endpoint_with_the_page_to_come_back_to(make_app) -> None:
    response = _with_login(make_app).test_client().get("/analytics/?range=7&granularity=week")
    assert response.status_code == 302
    assert _login_target(response.headers["Location"]) == ("/login", ["/analytics/?range=7&granularity=week"])


def test_a_signed_out_panel_request_gets_hx_redirect_back_to_the_page_it_was_on(make_app) -> None:
    client = _with_login(make_app).test_client()
    response = client.get(
        "/analytics/fragments/trends?range=90",
        headers={**HX, "HX-Current-URL": "http://localhost/analytics/?range=90&agentId=x"},
    )
    assert response.status_code == 401
    assert _login_target(response.headers["HX-Redirect"]) == ("/login", ["/analytics/?range=90&agentId=x"])


def test_a_signed_out_control_change_comes_back_to_the_period_it_asked_for(make_app) -> None:
    response = _with_login(make_app).test_client().get("/analytics/?range=30", headers=HX)
    assert _login_target(response.headers["HX-Redirect"]) == ("/login", ["/analytics/?range=30"])


def test_a_panel_url_from_another_site_never_becomes_the_way_back(make_app) -> None:
    response = _with_login(make_app).test_client().get(
        "/analytics/fragments/summary", headers={**HX, "HX-Current-URL": "https://evil.example/analytics/"}
    )
    assert _login_target(response.headers["HX-Redirect"]) == ("/login", ["/analytics/"])


def test_the_login_next_parameter_is_configurable(make_app) -> None:
    app = _with_login(make_app, ANALYTICS_LOGIN_NEXT_PARAM="return_to")
    response = app.test_client().get("/analytics/")
    assert _login_target(response.headers["Location"], "return_to") == ("/login", ["/analytics/"])


def test_the_json_api_stays_401_json_with_a_login_endpoint(make_app) -> None:
    response = _with_login(make_app).test_client().get("/analytics/usage-summary")
    assert (response.status_code, response.get_json()["error"]["code"]) == (401, "UNAUTHORIZED")
    assert "Location" not in response.headers


@pytest.fixture
def signin_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    # The host's Alembic env.py (fileConfig) disables loggers that existed before it ran.
    logging.getLogger("agentidp_analytics_plugin.signin").disabled = False
    caplog.set_level("ERROR", logger="agentidp_analytics_plugin.signin")
    return caplog


@pytest.fixture
def misnamed_login(make_app) -> Flask:
    """Built before the test's log capture starts: the host's migrations reset the logging set-up."""
    return _with_login(make_app, ANALYTICS_LOGIN_ENDPOINT="auth.login")


@pytest.fixture
def login_added_later(make_app) -> Flask:
    app = make_app(ANALYTICS_LOGIN_ENDPOINT="login")
    app.add_url_rule("/login", "login", lambda: "sign in")
    return app


def test_an_unknown_login_endpoint_is_named_on_the_first_request_and_the_401_page_served(
    misnamed_login: Flask, signin_log: pytest.LogCaptureFixture
) -> None:
    response = misnamed_login.test_client().get("/analytics/")
    (message,) = [r.getMessage() for r in signin_log.records if "ANALYTICS_LOGIN_ENDPOINT" in r.getMessage()]
    assert "'auth.login'" in message and "'login'" in message  # the closest endpoint is suggested
    assert response.status_code == 401 and 'data-state="signed-out"' in response.get_data(as_text=True)


def test_a_login_view_the_host_adds_after_the_plugins_is_found(
    login_added_later: Flask, signin_log: pytest.LogCaptureFixture
) -> None:
    response = login_added_later.test_client().get("/analytics/")
    assert response.status_code == 302
    assert not [r for r in signin_log.records if "ANALYTICS_LOGIN_ENDPOINT" in r.getMessage()]


def test_the_tab_loads_its_htmx_only_where_the_host_has_none(pro_client: FlaskClient) -> None:
    html = pro_client.get("/analytics/").get_data(as_text=True)
    loader = re.search(r'<script src="([^"]+)" data-htmx-src="([^"]+)"></script>', html)
    assert loader is not None and loader.groups() == (
        "/analytics/static/htmx-if-missing.js",
        "/analytics/static/vendor/htmx.min.js",
    )
    assert '<script src="/analytics/static/vendor/htmx.min.js">' not in html


def test_the_tab_is_kept_out_of_htmx_history_and_restored_from_the_server(pro_client: FlaskClient) -> None:
    html = pro_client.get("/analytics/").get_data(as_text=True)
    assert '<div class="aa" id="agentidp-analytics" hx-history="false" hx-history-elt>' in html


def test_tab_extends_the_host_layout_and_has_every_panel(pro_client: FlaskClient) -> None:
    html = pro_client.get("/analytics/").get_data(as_text=True)
    assert "<nav>" in html and 'href="/analytics/"' in html  # the host's nav with our entry
    for panel in PANELS:
        assert f'hx-get="/analytics/fragments/{panel}?range=30"' in html
    assert "vendor/htmx.min.js" in html and "analytics.js" in html


def test_agent_filter_lists_the_tenants_agents_escaped(pro_client: FlaskClient, pro: dict) -> None:
    html = pro_client.get("/analytics/").get_data(as_text=True)
    assert f'<option value="{pro["busy"]}"' in html
    assert "busy &lt;b&gt;bot&lt;/b&gt;" in html


def test_controls_swap_the_panels_and_push_a_canonical_url(pro_client: FlaskClient) -> None:
    response = pro_client.get("/analytics/?range=7&from=&to=&agentId=&granularity=week", headers=HX)
    html = response.get_data(as_text=True)
    assert "<nav>" not in html  # a fragment, not the page
    assert 'hx-get="/analytics/fragments/trends?range=7&amp;granularity=week"' in html
    pushed = urlsplit(response.headers["HX-Push-Url"])
    assert (pushed.path, parse_qs(pushed.query)) == ("/analytics/", {"range": ["7"], "granularity": ["week"]})


def test_a_preset_updates_the_date_inputs_out_of_band(pro_client: FlaskClient) -> None:
    html = pro_client.get("/analytics/?range=7", headers=HX).get_data(as_text=True)
    assert 'id="aa-dates" class="aa-field aa-dates" hx-swap-oob="true"' in html
    assert f'value="{(utc_today() - timedelta(days=7)).isoformat()}"' in html


def test_history_restore_gets_the_whole_page(pro_client: FlaskClient) -> None:
    html = pro_client.get("/analytics/?range=7", headers={**HX, "HX-History-Restore-Request": "true"}).get_data(
        as_text=True
    )
    assert "<nav>" in html


@pytest.mark.parametrize("panel", PANELS)
def test_fragment_renders_data(pro_client: FlaskClient, panel: str) -> None:
    response = pro_client.get(f"/analytics/fragments/{panel}?range=30", headers=HX)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'data-panel="{panel}"' in html and 'data-state="ready"' in html


def test_summary_matches_the_service(pro_client: FlaskClient) -> None:
    html = pro_client.get("/analytics/fragments/summary?range=30", headers=HX).get_data(as_text=True)
    assert re.search(r"API calls</dt>\s*<dd[^>]*>371</dd>", html)  # 7 days x (50 + 3)


def test_the_agent_filter_narrows_the_summary_cards(pro_client: FlaskClient, pro: dict) -> None:
    html = pro_client.get(f"/analytics/fragments/summary?range=30&agentId={pro['quiet']}", headers=HX).get_data(
        as_text=True
    )
    assert re.search(r"API calls</dt>\s*<dd[^>]*>21</dd>", html)  # 7 days x 3, the quiet agent's alone


def test_the_agent_filter_narrows_the_trends(pro_client: FlaskClient, pro: dict) -> None:
    everyone = pro_client.get("/analytics/fragments/trends?range=30", headers=HX).get_data(as_text=True)
    quiet = pro_client.get(f"/analytics/fragments/trends?range=30&agentId={pro['quiet']}", headers=HX)
    assert 'data-state="ready"' in everyone
    assert 'data-state="empty"' in quiet.get_data(as_text=True)  # the quiet agent was issued no token


def test_the_trends_overlay_of_the_previous_period_is_drawn_from_its_own_answer(pro_client: FlaskClient) -> None:
    html = pro_client.get("/analytics/fragments/trends?range=30&compare=previous", headers=HX).get_data(as_text=True)
    assert 'data-compare="previous"' in html and '"previous": {' in html
    assert re.search(r'id="aa-trends-compare"[^>]*checked', html)


def test_the_trends_overlay_switch_pushes_the_url_with_the_overlay(pro_client: FlaskClient) -> None:
    html = pro_client.get("/analytics/fragments/trends?range=30", headers=HX).get_data(as_text=True)
    assert 'data-compare="previous"' not in html
    assert 'hx-push-url="/analytics/?range=30&amp;compare=previous"' in html
    assert 'form="aa-controls"' in html


def test_heatmap_lists_busiest_first(pro_client: FlaskClient) -> None:
    html = pro_client.get("/analytics/fragments/heatmap?range=30", headers=HX).get_data(as_text=True)
    assert html.index("busy &lt;b&gt;bot&lt;/b&gt;") < html.index(">quiet<")


@pytest.mark.parametrize(
    ("panel", "query", "code"),
    [
        ("heatmap", "range=custom&from={d120}&to={today}", "INVALID_DATE_RANGE"),
        ("summary", "range=custom&from={today}&to={d120}", "INVALID_DATE_RANGE"),
        ("trends", "range=30&granularity=month", "INVALID_GRANULARITY"),
        ("heatmap", "range=30&agentId=nope", "INVALID_AGENT_ID"),
        ("heatmap", "range=30&agentId=" + str(uuid.UUID(int=1)), "AGENT_NOT_FOUND"),
        ("rotations", "range=custom&from=2026-02-30", "INVALID_DATE"),
        ("rotations", "range=30&agentId=nope", "INVALID_AGENT_ID"),
        ("rotations", "range=30&agentId=" + str(uuid.UUID(int=1)), "AGENT_NOT_FOUND"),
        ("summary", "range=30&agentId=" + str(uuid.UUID(int=1)), "AGENT_NOT_FOUND"),
        ("trends", "range=30&agentId=nope", "INVALID_AGENT_ID"),
        ("calls", "range=custom&from={d120}&to={today}", "INVALID_DATE_RANGE"),
        ("calls", "range=30&agentId=" + str(uuid.UUID(int=1)), "AGENT_NOT_FOUND"),
    ],
    ids=[
        "range-too-long", "from-after-to", "granularity", "malformed-agent", "foreign-agent", "bad-date",
        "rotations-malformed-agent", "rotations-foreign-agent", "summary-foreign-agent", "trends-malformed-agent",
        "calls-range-too-long", "calls-foreign-agent",
    ],
)
def test_invalid_controls_show_an_inline_error(pro_client: FlaskClient, panel: str, query: str, code: str) -> None:
    today = utc_today()
    url = f"/analytics/fragments/{panel}?" + query.format(today=today, d120=today - timedelta(days=120))
    response = pro_client.get(url, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200  # htmx swaps it in: an error is a state of the panel
    assert 'data-state="error"' in html and 'role="alert"' in html
    assert f'data-error-code="{code}"' in html


def test_range_too_long_shows_the_specs_message(pro_client: FlaskClient) -> None:
    today = utc_today()
    html = pro_client.get(
        f"/analytics/fragments/heatmap?range=custom&from={today - timedelta(days=120)}&to={today}", headers=HX
    ).get_data(as_text=True)
    assert "at most 90 days" in html


def test_free_tier_sees_the_upgrade_panel(app: Flask, host: HostData) -> None:
    client = log_in(app.test_client(), host.tenant("free"))
    html = client.get("/analytics/").get_data(as_text=True)
    assert 'data-state="upgrade"' in html and "Pro" in html
    assert "hx-get" not in html


def test_the_upgrade_panel_names_the_configured_plans_and_the_tenants_own(make_app) -> None:
    app = make_app(
        ANALYTICS_PAID_TIERS="team,business",
        ANALYTICS_TIER_NAMES={"team": "Team", "business": "Business Cloud", "hobby": "Hobby (free)"},
    )
    client = log_in(app.test_client(), HostData(app).tenant("hobby"))
    text = " ".join(re.sub(r"<[^>]+>", " ", client.get("/analytics/").get_data(as_text=True)).split())

    assert "part of the Team and Business Cloud plans. Your workspace is on the Hobby (free) plan." in text
    assert "Enterprise" not in text


def test_the_upgrade_panel_has_no_call_to_action_without_an_upgrade_url(app: Flask, host: HostData) -> None:
    html = log_in(app.test_client(), host.tenant("free")).get("/analytics/").get_data(as_text=True)
    assert "aa-upgrade-action" not in html


def test_the_upgrade_panel_links_to_the_upgrade_url(make_app) -> None:
    app = make_app(ANALYTICS_UPGRADE_URL="/billing?plan=pro&from=analytics")
    client = log_in(app.test_client(), HostData(app).tenant("free"))
    html = client.get("/analytics/fragments/summary", headers=HX).get_data(as_text=True)
    assert 'href="/billing?plan=pro&amp;from=analytics"' in html


def test_free_tier_fragment_is_the_upgrade_panel_too(app: Flask, host: HostData) -> None:
    client = log_in(app.test_client(), host.tenant("free"))
    html = client.get("/analytics/fragments/heatmap", headers=HX).get_data(as_text=True)
    assert 'data-state="upgrade"' in html and "<canvas" not in html


def test_new_tenant_sees_empty_states(app: Flask, host: HostData) -> None:
    client = log_in(app.test_client(), host.tenant("enterprise"))
    for panel in PANELS:
        html = client.get(f"/analytics/fragments/{panel}", headers=HX).get_data(as_text=True)
        assert 'data-state="empty"' in html, panel


@pytest.mark.parametrize("path", ["/analytics/", "/analytics/fragments/summary"])
def test_disabled_analytics_is_not_found(make_app: Callable[..., Flask], host: HostData, path: str) -> None:
    app = make_app(ANALYTICS_ENABLED=False)
    client = log_in(app.test_client(), host.tenant("pro"))
    assert client.get(path).status_code == 404


def test_disabled_analytics_hides_the_nav_entry(make_app: Callable[..., Flask], host: HostData) -> None:
    app = make_app(ANALYTICS_ENABLED=False)
    html = log_in(app.test_client(), host.tenant("pro")).get("/").get_data(as_text=True)
    assert "Analytics" not in html


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/analytics/", {}), ("/analytics/?range=7", HX), ("/analytics/fragments/summary", HX)],
    ids=["page", "panels", "fragment"],
)
def test_tab_answers_are_private_to_the_signed_in_tenant(pro_client: FlaskClient, path: str, headers: dict) -> None:
    response = pro_client.get(path, headers=headers)
    assert response.status_code == 200
    assert {"private", "no-store"} <= {d.strip() for d in response.headers["Cache-Control"].split(",")}
    assert {"cookie", "hx-request"} <= {v.lower() for v in response.vary}


def test_fragments_count_against_the_tabs_own_rate_limit(make_app: Callable[..., Flask], host: HostData) -> None:
    app = make_app(ANALYTICS_RATELIMIT_UI="3 per minute")
    tenant = host.tenant("pro")
    client = log_in(app.test_client(), tenant)
    for _ in range(3):
        assert 'data-state="empty"' in client.get("/analytics/fragments/summary", headers=HX).get_data(as_text=True)
    limited = client.get("/analytics/fragments/trends", headers=HX)
    assert limited.status_code == 200  # a state of the panel, swapped in by htmx
    assert 'data-error-code="RATE_LIMITED"' in limited.get_data(as_text=True)
    page = client.get("/analytics/")
    assert page.status_code == 429 and "Retry-After" in page.headers
    assert 'data-error-code="RATE_LIMITED"' in page.get_data(as_text=True)


def test_the_tab_limit_leaves_the_api_budget_alone(make_app: Callable[..., Flask], host: HostData) -> None:
    app = make_app(ANALYTICS_RATELIMIT_UI="2 per minute", ANALYTICS_RATELIMIT="2 per minute")
    tenant = host.tenant("pro")
    client = log_in(app.test_client(), tenant)
    for _ in range(3):
        client.get("/analytics/fragments/summary", headers=HX)
    token = host.token(tenant)
    statuses = [
        app.test_client().get("/analytics/usage-summary", headers={"Authorization": f"Bearer {token}"}).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_unknown_fragment_is_not_found(pro_client: FlaskClient) -> None:
    assert pro_client.get("/analytics/fragments/nope").status_code == 404


def test_gallery_is_off_by_default(pro_client: FlaskClient) -> None:
    assert pro_client.get("/analytics/_gallery").status_code == 404


def test_the_heatmap_fetches_only_the_busiest_agents_but_counts_them_all(app: Flask, pro: dict) -> None:
    app.config["ANALYTICS_HEATMAP_AGENTS"] = 1
    client = log_in(app.test_client(), pro["tenant"])
    html = client.get("/analytics/fragments/heatmap?range=30", headers=HX).get_data(as_text=True)
    assert "Showing 1 of 2 agents" in html and "Show all 2 agents" in html
    assert "busy &lt;b&gt;bot&lt;/b&gt;" in html and ">quiet<" not in html
    html = client.get("/analytics/fragments/heatmap?range=30&all=1", headers=HX).get_data(as_text=True)
    assert "Showing 2 of 2 agents" in html and ">quiet<" in html


def test_call_patterns_list_every_endpoint_busiest_first_sorted_by_calls(pro_client: FlaskClient) -> None:
    html = pro_client.get("/analytics/fragments/calls?range=30", headers=HX).get_data(as_text=True)
    endpoints = re.findall(r'<tr data-endpoint="([^"]+)"', html)
    assert endpoints == ["GET /api/agents/&lt;uuid:agent_id&gt;", "POST /oauth/token"]
    assert re.search(r'aria-sort="descending">\s*<button[^>]*data-sort-key="calls"', html)
    assert len(re.findall(r"<button type=\"button\" class=\"aa-sort\"", html)) == 8  # every column sorts


def test_call_patterns_show_errors_rate_and_the_busiest_agent(pro_client: FlaskClient) -> None:
    html = pro_client.get("/analytics/fragments/calls?range=30", headers=HX).get_data(as_text=True)
    row = html.split('<tr data-endpoint="GET')[1].split("</tr>")[0]
    assert 'data-value="2">2</td>' in row  # 5xx
    assert "4.8%" in row  # 2 of 42 calls failed
    assert "busy &lt;b&gt;bot&lt;/b&gt;" in row


def test_call_patterns_follow_the_agent_filter(pro_client: FlaskClient, pro: dict) -> None:
    html = pro_client.get(f"/analytics/fragments/calls?range=30&agentId={pro['quiet']}", headers=HX).get_data(
        as_text=True
    )
    assert re.findall(r'<tr data-endpoint="([^"]+)"', html) == ["POST /oauth/token"]


def test_dates_in_the_wrong_order_are_said_once_for_the_whole_tab(pro_client: FlaskClient) -> None:
    today = utc_today()
    query = f"range=custom&from={today - timedelta(days=2)}&to={today - timedelta(days=9)}"
    html = pro_client.get(f"/analytics/?{query}", headers=HX).get_data(as_text=True)
    assert html.count('role="alert"') == 1 and 'data-error-code="INVALID_DATE_RANGE"' in html
    assert "/analytics/fragments/" not in html  # no panel asks for its data


def test_a_full_page_with_reversed_dates_marks_both_date_inputs_invalid(pro_client: FlaskClient) -> None:
    today = utc_today()
    html = pro_client.get(
        f"/analytics/?range=custom&from={today - timedelta(days=2)}&to={today - timedelta(days=9)}"
    ).get_data(as_text=True)
    for field in ("aa-from", "aa-to"):
        assert re.search(rf'id="{field}"[^>]*aria-invalid="true" aria-describedby="aa-body-period"', html)
    assert 'id="aa-body-period"' in html and html.count('role="alert"') == 1


@pytest.mark.parametrize(
    ("dates", "marked"),
    [
        ("from=01.03.2026&to={d2}", ["aa-from"]),
        ("from={d9}&to=2026-02-30", ["aa-to"]),
        ("from=x&to=y", ["aa-from", "aa-to"]),
        ("from={d9}&to={tomorrow}", ["aa-to"]),
        ("from={d2}&to={d9}", ["aa-from", "aa-to"]),
    ],
    ids=["locale-from", "no-such-day-to", "both-malformed", "to-after-today", "wrong-order"],
)
def test_a_date_error_marks_the_inputs_it_is_about(pro_client: FlaskClient, dates: str, marked: list[str]) -> None:
    today = utc_today()
    query = dates.format(d2=today - timedelta(days=2), d9=today - timedelta(days=9), tomorrow=today + timedelta(days=1))
    response = pro_client.get(f"/analytics/?range=custom&{query}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.count('role="alert"') == 1
    assert re.findall(r'id="(aa-from|aa-to)"[^>]*aria-invalid="true"', html) == marked
    assert f'data-invalid-inputs="{" ".join(marked)}"' in html


def test_dates_typed_in_iso_basic_form_apply(pro_client: FlaskClient) -> None:
    today = utc_today()
    start, end = today - timedelta(days=9), today - timedelta(days=2)
    html = pro_client.get(
        f"/analytics/?range=custom&from={start:%Y%m%d}&to={end:%Y%m%d}", headers=HX
    ).get_data(as_text=True)
    assert 'id="aa-body-period"' not in html
    assert f"from={start.isoformat()}&amp;to={end.isoformat()}" in html


def test_a_malformed_agent_is_said_once_and_marks_the_agent_filter(pro_client: FlaskClient) -> None:
    html = pro_client.get("/analytics/?range=30&agentId=nope").get_data(as_text=True)
    assert html.count('role="alert"') == 1 and "That agent can&#39;t be shown." in html
    assert re.search(r'id="aa-agent"[^>]*aria-invalid="true"', html)
    assert not re.search(r'id="aa-from"[^>]*aria-invalid', html)


def test_a_period_too_long_for_some_panels_stays_each_panels_own_message(pro_client: FlaskClient) -> None:
    today = utc_today()
    html = pro_client.get(
        f"/analytics/?range=custom&from={today - timedelta(days=120)}&to={today}", headers=HX
    ).get_data(as_text=True)
    assert 'id="aa-body-period"' not in html and "/analytics/fragments/heatmap" in html
