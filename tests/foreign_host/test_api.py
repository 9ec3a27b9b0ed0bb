"""The three endpoints read back, with the spec's shapes, what Orbit wrote into its renamed tables."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import Flask

from .conftest import run_flask
from .contract import api_get, schema_errors
from .orbit_idp.extensions import db
from .orbit_idp.models import Bot, BotUsage
from .world import World


def test_usage_summary_counts_the_usage_orbit_wrote_in_bot_usage(orbit: Flask, aggregated: World) -> None:
    response = api_get(orbit.test_client(), "/analytics/usage-summary", aggregated.acme_key, **aggregated.period)

    assert response.status_code == 200
    body = response.get_json()
    assert (body["tenantId"], body["period"]) == (str(aggregated.acme), aggregated.period)
    assert body["summary"] == {
        "totalApiCalls": 657,
        "totalTokenIssuances": 38,
        "totalCredentialRotations": 3,
        "activeAgentCount": 2,
        "averageDailyApiCalls": 60,
        "peakDailyApiCalls": 300,
        "peakDate": aggregated.day(8),
    }


def test_agent_activity_lists_the_busiest_bot_first_with_only_its_active_days(orbit: Flask, aggregated: World) -> None:
    response = api_get(orbit.test_client(), "/analytics/agent-activity", aggregated.acme_key, **aggregated.period)

    assert response.status_code == 200
    assert response.get_json()["agents"] == [
        {
            "agentId": str(aggregated.ledger_sync),
            "agentName": "ledger-sync",
            "dailyActivity": [
                {"date": aggregated.day(0), "apiCalls": 50, "tokenIssuances": 5, "credentialRotations": 0},
                {"date": aggregated.day(8), "apiCalls": 300, "tokenIssuances": 20, "credentialRotations": 2},
            ],
        },
        {
            "agentId": str(aggregated.invoice_reader),
            "agentName": "invoice-reader",
            "dailyActivity": [
                {"date": aggregated.day(0), "apiCalls": 100, "tokenIssuances": 10, "credentialRotations": 0},
                {"date": aggregated.day(2), "apiCalls": 200, "tokenIssuances": 0, "credentialRotations": 1},
            ],
        },
    ]


def test_agent_activity_filtered_on_an_idle_bot_lists_it_without_days(orbit: Flask, aggregated: World) -> None:
    response = api_get(
        orbit.test_client(),
        "/analytics/agent-activity",
        aggregated.acme_key,
        agentId=str(aggregated.idle_bot),
        **aggregated.period,
    )

    assert response.status_code == 200
    assert response.get_json()["agents"] == [
        {"agentId": str(aggregated.idle_bot), "agentName": "idle-bot", "dailyActivity": []}
    ]


def test_agent_activity_for_another_orgs_bot_is_agent_not_found_in_json(orbit: Flask, aggregated: World) -> None:
    response = api_get(
        orbit.test_client(), "/analytics/agent-activity", aggregated.acme_key, agentId=str(aggregated.umbrella_bot)
    )

    assert (response.status_code, response.mimetype) == (404, "application/json")
    assert response.get_json()["error"]["code"] == "AGENT_NOT_FOUND"


def test_daily_token_trends_are_dense_and_count_org_wide_tokens_but_not_as_bots(
    orbit: Flask, aggregated: World
) -> None:
    response = api_get(orbit.test_client(), "/analytics/token-trends", aggregated.acme_key, **aggregated.period)

    assert response.status_code == 200
    points = {point["date"]: point for point in response.get_json()["dataPoints"]}
    assert list(points) == [aggregated.day(offset) for offset in range(-1, 10)]
    assert points[aggregated.day(0)] == {
        "date": aggregated.day(0),
        "totalIssuances": 19,
        "successfulIssuances": 18,
        "failedIssuances": 1,
        "uniqueAgents": 2,
    }
    assert points[aggregated.day(2)]["failedIssuances"] == 2
    assert points[aggregated.day(1)]["totalIssuances"] == 0


def test_weekly_token_trends_are_dated_on_mondays_and_count_a_bot_once_per_week(
    orbit: Flask, aggregated: World
) -> None:
    response = api_get(
        orbit.test_client(), "/analytics/token-trends", aggregated.acme_key, granularity="week", **aggregated.period
    )

    assert response.status_code == 200
    assert response.get_json()["dataPoints"] == [
        {"date": aggregated.day(-7), "totalIssuances": 0, "successfulIssuances": 0, "failedIssuances": 0,
         "uniqueAgents": 0},
        {"date": aggregated.day(0), "totalIssuances": 21, "successfulIssuances": 18, "failedIssuances": 3,
         "uniqueAgents": 2},
        {"date": aggregated.day(7), "totalIssuances": 20, "successfulIssuances": 20, "failedIssuances": 0,
         "uniqueAgents": 1},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "schema", "params"),
    [
        ("/analytics/usage-summary", "UsageSummary", {}),
        ("/analytics/agent-activity", "AgentActivityResponse", {}),
        ("/analytics/token-trends", "TokenTrendsResponse", {"granularity": "week"}),
    ],
    ids=["usage-summary", "agent-activity", "token-trends"],
)
def test_each_endpoint_answers_the_shape_of_the_published_openapi_document(
    orbit: Flask, aggregated: World, path: str, schema: str, params: dict[str, str]
) -> None:
    response = api_get(orbit.test_client(), path, aggregated.acme_key, **aggregated.period, **params)

    assert response.status_code == 200
    assert schema_errors(schema, response.get_json()) == []


def test_the_nightly_command_makes_answers_complete_through_yesterday(orbit: Flask, world: World) -> None:
    run_flask(orbit, "analytics", "aggregate")

    response = api_get(orbit.test_client(), "/analytics/usage-summary", world.acme_key, **world.period)

    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    assert response.get_json()["dataCompleteThrough"] == yesterday
    assert response.headers["X-Analytics-Data-Complete-Through"] == yesterday
    assert response.get_json()["summary"]["totalApiCalls"] == 657


def test_flask_analytics_status_reports_the_last_aggregated_day(orbit: Flask, world: World) -> None:
    run_flask(orbit, "analytics", "aggregate")

    status = run_flask(orbit, "analytics", "status")

    assert (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat() in status


def test_answers_are_private_to_the_client_for_the_cache_ttl(orbit: Flask, aggregated: World) -> None:
    response = api_get(orbit.test_client(), "/analytics/usage-summary", aggregated.acme_key)

    assert response.headers["Cache-Control"] == f"private, max-age={orbit.config['ANALYTICS_CACHE_TTL_SUMMARY']}"


def test_a_request_without_an_orbit_key_is_unauthorized_in_json(orbit: Flask, world: World) -> None:
    response = orbit.test_client().get("/analytics/usage-summary")

    assert (response.status_code, response.mimetype) == (401, "application/json")
    assert response.get_json()["error"]["code"] == "UNAUTHORIZED"
    assert "WWW-Authenticate" in response.headers


def test_a_starter_org_is_refused_with_analytics_not_available(orbit: Flask, world: World) -> None:
    response = api_get(orbit.test_client(), "/analytics/usage-summary", world.hooli_key)

    assert (response.status_code, response.mimetype) == (403, "application/json")
    assert response.get_json()["error"]["code"] == "ANALYTICS_NOT_AVAILABLE"


def test_a_from_after_to_is_invalid_date_range(orbit: Flask, world: World) -> None:
    response = api_get(
        orbit.test_client(), "/analytics/usage-summary", world.acme_key, **{"from": world.day(3), "to": world.day(1)}
    )

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "INVALID_DATE_RANGE"


def test_orbit_deleting_a_bot_keeps_the_orgs_totals(orbit: Flask, aggregated: World) -> None:
    with orbit.app_context():
        db.session.delete(db.session.get(Bot, aggregated.ledger_sync))
        db.session.commit()

    response = api_get(orbit.test_client(), "/analytics/usage-summary", aggregated.acme_key, **aggregated.period)

    assert response.get_json()["summary"]["totalApiCalls"] == 657


def test_the_api_refusal_names_orbits_paid_tiers(orbit: Flask, world: World) -> None:
    message = api_get(orbit.test_client(), "/analytics/usage-summary", world.hooli_key).get_json()["error"]["message"]
    words = set(re.findall(r"[a-z]+", message.lower()))

    assert {"growth", "scale"} <= words
    assert not {"pro", "enterprise"} & words


def test_a_backfill_shows_in_the_next_answer_not_after_the_cache_ttl(orbit: Flask, aggregated: World) -> None:
    client = orbit.test_client()
    api_get(client, "/analytics/usage-summary", aggregated.acme_key, **aggregated.period)
    with orbit.app_context():
        late = BotUsage(tenant_id=aggregated.acme, date=aggregated.monday, metric_type="api_calls", count=1000)
        db.session.add(late)
        db.session.commit()
    run_flask(orbit, "analytics", "aggregate", "--date", aggregated.day(0))

    response = api_get(client, "/analytics/usage-summary", aggregated.acme_key, **aggregated.period)

    assert response.get_json()["summary"]["totalApiCalls"] == 1657
