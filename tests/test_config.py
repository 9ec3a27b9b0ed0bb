"""Configuration fails closed and says what is wrong, naming the ANALYTICS_ key.

Values from the environment arrive as strings: flags, numbers and lists are
parsed at start-up and stored as real values; anything else stops start-up
with a message naming the key. What start-up cannot see (resolvers' answers,
host tables, the base template) is checked at first use, with the same care.
"""

from __future__ import annotations

import logging
import uuid
from types import SimpleNamespace

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from agentidp_analytics_plugin import AnalyticsPlugin, errors
from agentidp_analytics_plugin.config import BOOLEAN_KEYS
from agentidp_analytics_plugin.errors import HostContractError
from api_fixtures import Api
from host_app import HostData


def bare_app(**config) -> Flask:
    app = Flask("bare")
    app.config.update({"SQLALCHEMY_DATABASE_URI": "sqlite://", "ANALYTICS_SCHEDULER_ENABLED": False, **config})
    SQLAlchemy(app)
    return app


def started(**config) -> Flask:
    app = bare_app(**config)
    AnalyticsPlugin(app)
    return app


FLAG_VALUES = [
    ("false", False), ("False", False), ("FALSE", False), ("0", False), ("no", False), ("off", False), (" Off ", False),
    ("true", True), ("TRUE", True), ("1", True), ("yes", True), ("On", True), (True, True), (False, False),
    (1, True), (0, False),
]


@pytest.mark.parametrize(("raw", "parsed"), FLAG_VALUES, ids=[repr(v) for v, _ in FLAG_VALUES])
@pytest.mark.parametrize("key", BOOLEAN_KEYS)
def test_boolean_keys_take_the_usual_spellings(key, raw, parsed):
    assert started(**{key: raw}).config[key] is parsed


@pytest.mark.parametrize("raw", ["maybe", "", "enabled", 2, None, [], "tru"], ids=repr)
@pytest.mark.parametrize("key", BOOLEAN_KEYS)
def test_boolean_keys_refuse_anything_else_naming_the_key(key, raw):
    with pytest.raises(ValueError, match=key):
        started(**{key: raw})


def test_analytics_enabled_false_from_the_environment_turns_the_plugin_off(make_app):
    app = make_app(ANALYTICS_ENABLED="false")
    host = HostData(app)
    response = Api(app).get("usage-summary", host.token(host.tenant()))
    assert response.status_code == 404


def test_free_tier_false_from_the_environment_keeps_free_tenants_out(make_app):
    app = make_app(ANALYTICS_FREE_TIER="0")
    host = HostData(app)
    response = Api(app).get("usage-summary", host.token(host.tenant(tier="free")))
    assert response.status_code == 403


@pytest.mark.parametrize("raw", ["off", "false", "0", "No"])
def test_analytics_enabled_flipped_at_runtime_with_a_string_turns_the_plugin_off(app, raw):
    host = HostData(app)
    token = host.token(host.tenant())
    app.config["ANALYTICS_ENABLED"] = raw
    assert Api(app).get("usage-summary", token).status_code == 404


def test_free_tier_flipped_at_runtime_with_a_string_keeps_free_tenants_out(app):
    host = HostData(app)
    token = host.token(host.tenant(tier="free"))
    app.config["ANALYTICS_FREE_TIER"] = "off"
    assert Api(app).get("usage-summary", token).status_code == 403
    app.config["ANALYTICS_FREE_TIER"] = "on"
    assert Api(app).get("usage-summary", token).status_code == 200


def test_an_invalid_runtime_flag_fails_closed(app):
    host = HostData(app)
    token = host.token(host.tenant(tier="free"))
    app.config["ANALYTICS_FREE_TIER"] = "sometimes"
    assert Api(app).get("usage-summary", token).status_code == 403
    app.config["ANALYTICS_ENABLED"] = "sometimes"
    assert Api(app).get("usage-summary", token).status_code == 404


@pytest.mark.parametrize(
    ("key", "raw", "parsed"),
    [
        ("ANALYTICS_CACHE_TTL_SUMMARY", "90", 90),
        ("ANALYTICS_REAGGREGATE_DAYS", "0", 0),
        ("ANALYTICS_JOB_HOUR", " 23 ", 23),
        ("ANALYTICS_CACHE_RETRY_SECONDS", "2.5", 2.5),
        ("ANALYTICS_CACHE_LOCAL_MAX_BYTES", "1048576", 1048576),
        ("ANALYTICS_CACHE_LOCAL_MAX_BYTES", "0", 0),
        ("ANALYTICS_READ_MAX_LAG_SECONDS", "120", 120.0),
        ("ANALYTICS_READ_RETRY_SECONDS", "0.5", 0.5),
        ("ANALYTICS_READ_FALLBACK", "off", False),
        ("ANALYTICS_PAID_TIERS", "pro, business", ("pro", "business")),
        ("ANALYTICS_PAID_TIERS", ["gold"], ("gold",)),
        ("ANALYTICS_TIER_NAMES", "growth=Growth, scale=Scale Plus", {"growth": "Growth", "scale": "Scale Plus"}),
        ("ANALYTICS_TIER_NAMES", {"pro": " Pro "}, {"pro": "Pro"}),
        ("ANALYTICS_UPGRADE_URL", "https://idp.example/billing", "https://idp.example/billing"),
        ("ANALYTICS_UPGRADE_URL", "/billing/plans", "/billing/plans"),
    ],
    ids=lambda v: str(v)[:24],
)
def test_numbers_and_lists_from_strings_are_parsed(key, raw, parsed):
    assert started(**{key: raw}).config[key] == parsed


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("ANALYTICS_CACHE_TTL_SUMMARY", "sixty"),
        ("ANALYTICS_CACHE_TTL_DEFAULT", "0"),
        ("ANALYTICS_HEATMAP_AGENTS", 2.5),
        ("ANALYTICS_REAGGREGATE_DAYS", "367"),
        ("ANALYTICS_JOB_MINUTE", "60"),
        ("ANALYTICS_JOB_HOUR", True),
        ("ANALYTICS_CACHE_RETRY_SECONDS", "soon"),
        ("ANALYTICS_CACHE_LOCAL_MAX_BYTES", "64MB"),
        ("ANALYTICS_CACHE_LOCAL_MAX_BYTES", -1),
        ("ANALYTICS_CACHE_LOCAL_MAX_BYTES", 1.5),
        ("ANALYTICS_READ_MAX_LAG_SECONDS", "a while"),
        ("ANALYTICS_READ_RETRY_SECONDS", -1),
        ("ANALYTICS_READ_DATABASE_URL", "replica:5432"),
        ("ANALYTICS_READ_BIND", ""),
        ("ANALYTICS_RATELIMIT", "lots"),
        ("ANALYTICS_RATELIMIT", "120 per fortnight"),
        ("ANALYTICS_RATELIMIT_UNAUTHENTICATED", 30),
        ("ANALYTICS_RATELIMIT_UI", "plenty"),
        ("ANALYTICS_RATELIMIT_STORAGE_URI", "redis//127.0.0.1:6379/1"),
        ("ANALYTICS_RATELIMIT_STORAGE_URI", "http://127.0.0.1:6379"),
        ("ANALYTICS_CACHE_REDIS_URL", "127.0.0.1:6379"),
        ("ANALYTICS_CACHE_REDIS_URL", "http://cache:6379/0"),
        ("ANALYTICS_METRICS_REGISTRY", "prometheus_client.REGISTRY"),
        ("ANALYTICS_METRICS_TOKEN", ""),
        ("ANALYTICS_BASE_TEMPLATE", ""),
        ("ANALYTICS_URL_PREFIX", "analytics"),
        ("ANALYTICS_URL_PREFIX", "/"),
        ("ANALYTICS_TIER_NAMES", "growth"),
        ("ANALYTICS_TIER_NAMES", {"growth": ""}),
        ("ANALYTICS_TIER_NAMES", ["Growth"]),
        ("ANALYTICS_UPGRADE_URL", "billing"),
        ("ANALYTICS_UPGRADE_URL", "javascript:alert(1)"),
        ("ANALYTICS_UPGRADE_URL", ""),
        ("ANALYTICS_LOGIN_ENDPOINT", "/login"),
        ("ANALYTICS_LOGIN_ENDPOINT", ""),
        ("ANALYTICS_LOGIN_ENDPOINT", 7),
        ("ANALYTICS_LOGIN_NEXT_PARAM", ""),
        ("ANALYTICS_LOGIN_NEXT_PARAM", "next=1"),
    ],
    ids=lambda v: str(v)[:32],
)
def test_invalid_values_stop_start_up_naming_the_analytics_key(key, raw):
    with pytest.raises(ValueError, match=key) as failure:
        started(**{key: raw})
    assert repr(raw) in str(failure.value)


def test_rate_limit_strings_are_accepted_as_flask_limiter_reads_them():
    app = started(ANALYTICS_RATELIMIT="10/second; 1000 per day")
    assert app.config["ANALYTICS_RATELIMIT"] == "10/second; 1000 per day"


@pytest.mark.parametrize(
    ("key", "consequence"),
    [("ANALYTICS_API_TENANT_RESOLVER", "401"), ("ANALYTICS_UI_TENANT_RESOLVER", "Analytics tab")],
)
def test_a_missing_resolver_warns_at_start_up(key, consequence, caplog):
    caplog.set_level("WARNING", logger="agentidp_analytics_plugin.extension")
    logging.getLogger("agentidp_analytics_plugin.extension").disabled = False
    started()
    (message,) = [r.getMessage() for r in caplog.records if key in r.getMessage()]
    assert consequence in message


# --------------------------------------------------------------------------- resolvers

TENANT = uuid.uuid4()


def raises(_request):
    raise KeyError("session lookup failed")


SHAPES = {
    "raises": raises,
    "a string": lambda _r: "acme",
    "three values": lambda _r: (TENANT, "pro", "extra"),
    "not a uuid": lambda _r: ("acme", "pro"),
    "no tier": lambda _r: (TENANT, None),
    "a dict": lambda _r: {"tenant_id": TENANT, "tier": "pro"},
}


@pytest.fixture
def contract_log(caplog):
    logging.getLogger("agentidp_analytics_plugin.errors").disabled = False
    caplog.set_level("ERROR", logger="agentidp_analytics_plugin.errors")
    return caplog


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_broken_api_resolver_gives_the_json_500_and_logs_why(app, contract_log, shape):
    app.extensions["agentidp_analytics"].api_resolver = SHAPES[shape]
    response = Api(app).get("usage-summary", "any-token")
    assert response.status_code == 500
    assert response.is_json
    assert response.get_json()["error"]["code"] == errors.INTERNAL_ERROR
    (record,) = [r for r in contract_log.records if "ANALYTICS_API_TENANT_RESOLVER" in r.getMessage()]
    if shape == "raises":
        assert record.exc_info[0] is KeyError  # the host's traceback is in the log


#: What the README says a resolver may answer for the tenant TENANT on the "pro" plan.
DOCUMENTED_ANSWERS = {
    "uuid and tier": lambda _r: (TENANT, "pro"),
    "uuid string": lambda _r: (str(TENANT), "pro"),
    "hex without dashes": lambda _r: (TENANT.hex, "pro"),
    "tier in another case": lambda _r: (TENANT, "PRO"),
    "a list": lambda _r: [TENANT, "pro"],
    "an object": lambda _r: SimpleNamespace(tenant_id=TENANT, tier="pro"),
}


@pytest.mark.parametrize("answer", sorted(DOCUMENTED_ANSWERS))
def test_every_resolver_answer_the_readme_lists_works(app, answer):
    app.extensions["agentidp_analytics"].api_resolver = DOCUMENTED_ANSWERS[answer]
    response = Api(app).get("usage-summary", "any-token")
    assert (response.status_code, response.get_json()["tenantId"]) == (200, str(TENANT))


# --------------------------------------------------------------------------- first use: tables and template


def test_a_misnamed_host_table_gives_the_json_500_naming_the_key(app, make_app, contract_log):
    app = make_app(ANALYTICS_AGENTS_TABLE="staff")  # the schema exists (built by the first app), named otherwise
    host = HostData(app)
    response = Api(app).get("usage-summary", host.token(host.tenant()))
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == errors.INTERNAL_ERROR
    assert any("ANALYTICS_AGENTS_TABLE='staff'" in r.getMessage() for r in contract_log.records)


def test_the_aggregation_names_a_misnamed_usage_events_table(app, make_app):
    app = make_app(ANALYTICS_USAGE_EVENTS_TABLE="usage")
    with app.app_context(), pytest.raises(HostContractError, match="ANALYTICS_USAGE_EVENTS_TABLE='usage'"):
        app.extensions["agentidp_analytics"].aggregate_pending()


def test_a_missing_base_template_is_named_on_the_first_tab_visit(app, make_app, contract_log):
    app = make_app(ANALYTICS_BASE_TEMPLATE="layout.html")
    host = HostData(app)
    client = app.test_client()
    with client.session_transaction() as session:
        session["tenant_id"] = str(host.tenant())
    response = client.get("/analytics/")
    assert response.status_code == 500
    assert any("ANALYTICS_BASE_TEMPLATE='layout.html'" in r.getMessage() for r in contract_log.records)


def test_a_read_bind_the_host_does_not_have_stops_start_up_naming_the_key():
    with pytest.raises(ValueError, match="ANALYTICS_READ_BIND names the bind 'replica'"):
        started(ANALYTICS_READ_BIND="replica", SQLALCHEMY_BINDS={"reports": "sqlite://"})


def test_a_read_replica_url_and_bind_together_stop_start_up():
    with pytest.raises(ValueError, match="ANALYTICS_READ_DATABASE_URL or ANALYTICS_READ_BIND, not both"):
        started(ANALYTICS_READ_DATABASE_URL="postgresql+psycopg://r@replica/idp", ANALYTICS_READ_BIND="replica")


@pytest.mark.parametrize("attr", ["api caller", "", "g.api_caller", 7], ids=repr)
def test_a_caller_attribute_that_is_not_a_name_stops_start_up(attr):
    with pytest.raises(ValueError, match="ANALYTICS_CALL_PATTERNS_CALLER_ATTR must be the name"):
        started(ANALYTICS_CALL_PATTERNS_ENABLED=True, ANALYTICS_CALL_PATTERNS_CALLER_ATTR=attr)


def test_a_caller_attribute_and_a_caller_resolver_together_stop_start_up():
    with pytest.raises(ValueError, match="ANALYTICS_CALL_PATTERNS_CALLER_ATTR or ANALYTICS_CALL_PATTERNS_RESOLVER"):
        started(
            ANALYTICS_CALL_PATTERNS_ENABLED=True,
            ANALYTICS_CALL_PATTERNS_CALLER_ATTR="api_caller",
            ANALYTICS_CALL_PATTERNS_RESOLVER=lambda _request: None,
        )
