"""Conditional requests: strong ETags, 304 from the cached answer without SQL, RFC 9110 If-None-Match forms."""

from __future__ import annotations

import pytest

from api_fixtures import count_statements, days_ago

ENDPOINTS = ["usage-summary", "agent-activity", "token-trends", "call-patterns"]


def _get(api, token, endpoint="usage-summary", if_none_match=None):
    headers = {"Authorization": f"Bearer {token}"}
    if if_none_match is not None:
        headers["If-None-Match"] = if_none_match
    return api.client.get(f"/analytics/{endpoint}", headers=headers)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_endpoint_answers_with_a_strong_etag(api, seed, endpoint):
    s = seed([("alpha", 1, "api_calls", 3)])
    etag = _get(api, s.token, endpoint).headers["ETag"]
    assert etag.startswith('"') and etag.endswith('-json"')


@pytest.mark.parametrize(("endpoint", "ttl"), [("usage-summary", 60), ("token-trends", 300), ("call-patterns", 60)])
def test_answers_may_be_kept_privately_for_the_cache_ttl(api, seed, endpoint, ttl):
    s = seed([])
    assert _get(api, s.token, endpoint).headers["Cache-Control"] == f"private, max-age={ttl}"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_cache_hit_serves_the_bytes_and_etag_of_the_miss_that_stored_them(api, api_app, seed, endpoint):
    s = seed([("alpha", 1, "api_calls", 3), ("bravo \u00e9\u4e2d", 2, "token_issuances", 4)])
    miss = _get(api, s.token, endpoint)
    with count_statements(api_app) as counter:
        hit = _get(api, s.token, endpoint)
    assert counter.analytics == []
    assert hit.get_data() == miss.get_data()
    assert hit.headers["ETag"] == miss.headers["ETag"]


def test_the_same_answer_has_the_same_etag(api, seed):
    s = seed([("alpha", 1, "api_calls", 3)])
    assert _get(api, s.token).headers["ETag"] == _get(api, s.token).headers["ETag"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_matching_if_none_match_answers_304_without_sql(api, api_app, seed, endpoint):
    s = seed([("alpha", 1, "api_calls", 3), ("alpha", 2, "token_issuances", 1)])
    etag = _get(api, s.token, endpoint).headers["ETag"]
    with count_statements(api_app) as counter:
        response = _get(api, s.token, endpoint, if_none_match=etag)
    assert response.status_code == 304
    assert counter.analytics == []


def test_a_304_has_no_body_and_repeats_the_validators(api, seed):
    s = seed([("alpha", 1, "api_calls", 3)])
    first = _get(api, s.token)
    response = _get(api, s.token, if_none_match=first.headers["ETag"])
    assert response.get_data() == b""
    assert response.headers["ETag"] == first.headers["ETag"]
    assert response.headers["Cache-Control"] == "private, max-age=60"
    assert response.headers["X-Analytics-Data-Complete-Through"] == first.headers["X-Analytics-Data-Complete-Through"]


def test_a_list_that_contains_the_etag_matches(api, seed):
    s = seed([("alpha", 1, "api_calls", 3)])
    etag = _get(api, s.token).headers["ETag"]
    assert _get(api, s.token, if_none_match=f'"other", {etag}, "more"').status_code == 304


def test_the_weak_form_of_the_etag_matches(api, seed):
    s = seed([("alpha", 1, "api_calls", 3)])
    etag = _get(api, s.token).headers["ETag"]
    assert _get(api, s.token, if_none_match=f"W/{etag}").status_code == 304


def test_a_star_matches_any_answer(api, seed):
    s = seed([("alpha", 1, "api_calls", 3)])
    assert _get(api, s.token, if_none_match="*").status_code == 304


def test_an_etag_that_does_not_match_gets_the_full_answer(api, seed):
    s = seed([("alpha", 1, "api_calls", 3)])
    response = _get(api, s.token, if_none_match='"0123456789abcdef-json", W/"x"')
    assert response.status_code == 200
    assert response.get_json()["summary"]["totalApiCalls"] == 3


def test_the_etag_changes_when_a_re_aggregation_changes_the_numbers(api, api_host, seed, redis_client):
    s = seed([("alpha", 1, "api_calls", 3)])
    old = _get(api, s.token).headers["ETag"]
    api_host.events([(s.tenant, s.agents["alpha"], days_ago(1), "api_calls", 4)])
    api.aggregate([days_ago(1)])
    redis_client.flushdb()  # the cached answer expires
    response = _get(api, s.token, if_none_match=old)
    assert response.status_code == 200
    assert response.headers["ETag"] != old
    assert response.get_json()["summary"]["totalApiCalls"] == 7


def test_an_error_is_never_304(api, seed):
    s = seed([])
    response = api.client.get(
        "/analytics/usage-summary?from=bad", headers={"Authorization": f"Bearer {s.token}", "If-None-Match": "*"}
    )
    assert response.status_code == 400
    assert "ETag" not in response.headers
