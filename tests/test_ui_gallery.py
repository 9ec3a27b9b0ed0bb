"""The gallery renders every component in every mock state, with no host database.

The app here is deliberately tiny (the blueprint and config defaults only):
the gallery must work without a host, a tenant or a host database. Its
numbers come from the plugin's own roll-up and service over generated usage,
so they are checked here against sums of that usage worked out by hand.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rotation_order import sort_rows

from agentidp_analytics_plugin import config as settings
from agentidp_analytics_plugin import gallery_data
from agentidp_analytics_plugin.blueprint import analytics_blueprint
from agentidp_analytics_plugin.params import ROTATION_SORT_KEYS
from agentidp_analytics_plugin.ui.controls import PANEL_NAMES

STATES = list(gallery_data.SCENARIOS)
PANELS = sorted(PANEL_NAMES)


def make_gallery_app(enabled: bool = True, **config) -> Flask:
    app = Flask(__name__)
    settings.apply_defaults(app.config)
    app.config.update(TESTING=True, ANALYTICS_GALLERY_ENABLED=enabled, **config)
    app.register_blueprint(analytics_blueprint())
    return app


@pytest.fixture
def gallery_client() -> Iterator[FlaskClient]:
    yield make_gallery_app().test_client()


def _json_blocks(html: str) -> list[dict]:
    return [json.loads(m) for m in re.findall(r'<script type="application/json" id="[^"]+">(.*?)</script>', html, re.S)]


def _mock(name: str) -> gallery_data.MockTenant:
    with make_gallery_app().app_context():
        return gallery_data.mock_tenant(name)


def _usage_by(mock: gallery_data.MockTenant, metric: str) -> dict[object, int]:
    """Per agent, the sum of one metric over the state's period: the gallery's numbers by hand."""
    totals: dict[object, int] = defaultdict(int)
    for agent, _, kind, count in mock.usage:
        if kind == metric:
            totals[agent] += count
    return totals


def test_gallery_is_not_found_unless_enabled() -> None:
    client = make_gallery_app(enabled=False).test_client()
    assert client.get("/analytics/_gallery").status_code == 404
    assert client.get("/analytics/_gallery/typical/summary").status_code == 404


def test_gallery_page_has_a_shell_for_every_panel_of_every_state(gallery_client: FlaskClient) -> None:
    html = gallery_client.get("/analytics/_gallery").get_data(as_text=True)
    for state in STATES:
        for panel in PANELS:
            assert f'hx-get="/analytics/_gallery/{state}/{panel}' in html


@pytest.mark.parametrize("panel", PANELS)
@pytest.mark.parametrize("state", STATES)
def test_gallery_fragment_renders(gallery_client: FlaskClient, state: str, panel: str) -> None:
    response = gallery_client.get(f"/analytics/_gallery/{state}/{panel}")
    assert response.status_code == 200
    assert f'data-panel="{panel}"' in response.get_data(as_text=True)


@pytest.mark.parametrize("panel", PANELS)
def test_empty_state_is_shown_for_a_new_tenant(gallery_client: FlaskClient, panel: str) -> None:
    html = gallery_client.get(f"/analytics/_gallery/empty/{panel}").get_data(as_text=True)
    assert 'data-state="empty"' in html
    assert "<canvas" not in html


@pytest.mark.parametrize("panel", PANELS)
def test_hostile_agent_names_are_escaped(gallery_client: FlaskClient, panel: str) -> None:
    html = gallery_client.get(f"/analytics/_gallery/html-names/{panel}").get_data(as_text=True)
    assert "<img src=x" not in html
    assert "<svg onload" not in html
    assert "<script>alert" not in html
    assert "<b>bold</b>" not in html


def test_hostile_names_survive_intact_inside_chart_json(gallery_client: FlaskClient) -> None:
    html = gallery_client.get("/analytics/_gallery/html-names/heatmap").get_data(as_text=True)
    (payload,) = _json_blocks(html)
    assert set(payload["agents"]) == set(gallery_data.HOSTILE_NAMES)


def test_unknown_state_or_panel_is_not_found(gallery_client: FlaskClient) -> None:
    assert gallery_client.get("/analytics/_gallery/nope/summary").status_code == 404
    assert gallery_client.get("/analytics/_gallery/typical/nope").status_code == 404


def test_summary_cards_are_the_services_arithmetic_over_the_mock_usage(gallery_client: FlaskClient) -> None:
    mock = _mock("typical")
    calls = sum(_usage_by(mock, "api_calls").values())
    per_day: dict[date, int] = defaultdict(int)
    for _, day, kind, count in mock.usage:
        if kind == "api_calls":
            per_day[day] += count
    peak_day = min(per_day, key=lambda d: (-per_day[d], d))
    html = gallery_client.get("/analytics/_gallery/typical/summary").get_data(as_text=True)
    cards = dict(re.findall(r'card-label">([^<]+)</dt>\s*<dd class="aa-card-value">([^<]+)</dd>', html))
    assert cards["API calls"] == f"{calls:,}"
    assert cards["Average API calls per day"] == f"{(2 * calls + 30) // 60:,}"  # half up, in integers
    assert cards["Peak API calls in a day"] == f"{per_day[peak_day]:,}"
    assert f"on {peak_day.isoformat()}" in html


def test_heatmap_shows_the_busiest_agents_first_up_to_the_limit(gallery_client: FlaskClient) -> None:
    html = gallery_client.get("/analytics/_gallery/agents-500/heatmap").get_data(as_text=True)
    (payload,) = _json_blocks(html)
    mock = _mock("agents-500")
    busy: dict[object, int] = defaultdict(int)
    for agent, _, kind, count in mock.usage:
        if kind != "token_failures":  # activity counts calls, issuances and rotations
            busy[agent] += count
    names = dict(mock.agents)
    expected = sorted(busy, key=lambda a: (-busy[a], names[a], str(a)))[:20]
    assert payload["agents"] == [names[a] for a in expected]
    assert "Show all 500 agents" in html


def test_show_all_renders_every_agent_and_day(gallery_client: FlaskClient) -> None:
    html = gallery_client.get("/analytics/_gallery/agents-500/heatmap?all=1").get_data(as_text=True)
    (payload,) = _json_blocks(html)
    assert (len(payload["agents"]), len(payload["dates"])) == (500, 90)
    assert "Show the busiest 20 only" in html


@pytest.mark.parametrize(("granularity", "points"), [("day", 30), ("week", 5)], ids=["day", "week"])
def test_trends_have_one_point_per_bucket(gallery_client: FlaskClient, granularity: str, points: int) -> None:
    html = gallery_client.get(f"/analytics/_gallery/typical/trends?granularity={granularity}").get_data(as_text=True)
    (payload,) = _json_blocks(html)
    assert payload["granularity"] == granularity
    assert len(payload["labels"]) == points
    assert [s["key"] for s in payload["series"]] == [
        "totalIssuances",
        "successfulIssuances",
        "failedIssuances",
        "uniqueAgents",
    ]


@pytest.mark.parametrize("sort", ROTATION_SORT_KEYS)
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_rotation_table_follows_the_sort_parameters(gallery_client: FlaskClient, sort: str, direction: str) -> None:
    html = gallery_client.get(f"/analytics/_gallery/typical/rotations?sort={sort}&dir={direction}").get_data(
        as_text=True
    )
    ids = re.findall(r'data-agent-id="([^"]+)"', html)
    mock = _mock("typical")
    start, end = mock.period
    with make_gallery_app().app_context():
        rows = mock.service.get_credential_rotations(mock.tenant_id, start, end)["agents"]
    assert ids == [r["agentId"] for r in sort_rows(rows, sort, direction)]
    assert f'aria-sort="{"ascending" if direction == "asc" else "descending"}"' in html


def _stale_agents(mock: gallery_data.MockTenant, days: int) -> int:
    _, end = mock.period
    last: dict[object, date] = {}
    for agent, day, kind, _ in mock.usage:
        if kind == "credential_rotations":
            last[agent] = max(day, last.get(agent, day))
    return sum(1 for agent, _ in mock.agents if agent not in last or last[agent] <= end - timedelta(days=days))


def test_stale_agents_are_flagged_in_words(gallery_client: FlaskClient) -> None:
    html = gallery_client.get("/analytics/_gallery/typical/rotations").get_data(as_text=True)
    assert html.count("Not rotated in 30+ days") == _stale_agents(_mock("typical"), 30) > 0


def test_the_stale_threshold_follows_the_configuration() -> None:
    client = make_gallery_app(ANALYTICS_ROTATION_STALE_DAYS=7).test_client()
    html = client.get("/analytics/_gallery/typical/rotations").get_data(as_text=True)
    stale = _stale_agents(_mock("typical"), 7)
    assert html.count("Not rotated in 7+ days") == stale > _stale_agents(_mock("typical"), 30)


def test_no_inline_script_or_style_anywhere(gallery_client: FlaskClient) -> None:
    pages = [gallery_client.get("/analytics/_gallery").get_data(as_text=True)]
    pages += [
        gallery_client.get(f"/analytics/_gallery/{s}/{p}").get_data(as_text=True) for s in STATES for p in PANELS
    ]
    for html in pages:
        assert " style=" not in html
        assert "<style" not in html
        assert re.search(r"<[^>]+\son[a-z]+=", html) is None
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert 'type="application/json"' in tag or " src=" in tag


def test_the_gallerys_call_patterns_come_from_the_real_service_with_a_failure_burst(gallery_client):
    html = gallery_client.get("/analytics/_gallery/typical/calls").get_data(as_text=True)
    mock = _mock("typical")
    start, end = mock.period
    with mock.lock:
        patterns = mock.service.get_call_patterns(mock.tenant_id, start, end)
    endpoints = [(e["method"], e["route"]) for e in patterns["endpoints"]]
    assert len(endpoints) >= 5
    token = next(e for e in patterns["endpoints"] if e["route"] == "/oauth/token")
    burst = [d for d in token["daily"] if d["serverErrors"] > d["calls"] // 5]
    assert 1 <= len(burst) <= 3  # the three-day 5xx burst, not a steady failure rate
    assert f"{patterns['totalCalls']:,} API calls" in html
