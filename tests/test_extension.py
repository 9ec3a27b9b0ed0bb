"""The Flask extension contract: registration, config, nav, migrations hook, scheduler."""

from __future__ import annotations

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from agentidp_analytics_plugin import AnalyticsPlugin, analytics
from agentidp_analytics_plugin.scheduler import JOB_ID
from agentidp_analytics_plugin.state import get_state


def bare_app(**config) -> Flask:
    app = Flask("bare")
    app.config.update(SQLALCHEMY_DATABASE_URI="sqlite://", ANALYTICS_SCHEDULER_ENABLED=False, **config)
    SQLAlchemy(app)
    return app


def test_state_lives_in_app_extensions(app):
    assert app.extensions["agentidp_analytics"] is get_state(app)
    assert get_state(app).tables.aggregates.name == "analytics_daily_aggregates"


def test_reaching_the_state_of_an_app_without_the_plugin_says_to_call_init_app():
    app = bare_app()
    with app.app_context(), pytest.raises(RuntimeError, match="Did you forget to call 'analytics.init_app"):
        get_state()


def test_a_second_init_app_on_the_same_app_is_refused(app):
    with pytest.raises(RuntimeError, match="already registered"):
        analytics.init_app(app)


def test_init_app_without_flask_sqlalchemy_says_what_to_do():
    with pytest.raises(RuntimeError, match=r"db.init_app\(app\)"):
        AnalyticsPlugin(Flask("nodb"))


def test_one_plugin_object_serves_several_apps():
    first, second = bare_app(), bare_app()
    analytics.init_app(first)
    analytics.init_app(second)
    assert get_state(first) is not get_state(second)


def test_defaults_never_override_host_settings():
    app = bare_app(ANALYTICS_REAGGREGATE_DAYS=7)
    AnalyticsPlugin(app)
    assert app.config["ANALYTICS_REAGGREGATE_DAYS"] == 7
    assert app.config["ANALYTICS_CACHE_TTL_SUMMARY"] == 60


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ANALYTICS_CACHE_TTL_SUMMARY", 0),
        ("ANALYTICS_REAGGREGATE_DAYS", -1),
        ("ANALYTICS_JOB_HOUR", 24),
        ("ANALYTICS_AGENTS_TABLE", "agents; DROP TABLE x"),
        ("ANALYTICS_PAID_TIERS", ""),
        ("ANALYTICS_RATELIMIT", ""),
        ("ANALYTICS_API_TENANT_RESOLVER", "no.such.module:resolve"),
        ("ANALYTICS_UI_TENANT_RESOLVER", 42),
    ],
    ids=lambda v: str(v)[:24],
)
def test_invalid_settings_fail_at_start_up_naming_the_key(key, value):
    with pytest.raises(ValueError, match=key):
        AnalyticsPlugin(bare_app(**{key: value}))


def test_resolvers_may_be_import_strings():
    app = bare_app(ANALYTICS_API_TENANT_RESOLVER="host_app:resolve_api_tenant")
    AnalyticsPlugin(app)
    assert get_state(app).api_resolver.__name__ == "resolve_api_tenant"


def test_the_nav_entry_follows_the_enabled_flag(app):
    (entry,) = [e for e in app.config["DASHBOARD_NAV"] if e["label"] == "Analytics"]
    assert entry["endpoint"] == "agentidp_analytics.tab"
    with app.app_context():
        assert entry["visible"]() is True
        app.config["ANALYTICS_ENABLED"] = False
        assert entry["visible"]() is False


def test_the_hosts_alembic_config_gets_no_plugin_version_location(app):
    from host_app import MIGRATIONS

    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config(MIGRATIONS)
    assert config.get_main_option("version_locations") is None
    assert config.get_main_option("script_location") == MIGRATIONS


@pytest.mark.parametrize(
    ("name", "included"),
    [
        ("analytics_daily_aggregates", False),
        ("analytics_aggregated_days", False),
        ("analytics_alembic_version", False),
        ("analytics_some_later_plugin_table", False),
        ("agents", True),
    ],
    ids=["aggregates", "ledger", "version-table", "any-analytics-table", "host-table"],
)
def test_host_autogenerate_skips_the_plugin_tables(app, name, included):
    include = app.extensions["migrate"].configure_args["include_name"]
    assert include(name, "table", {"schema_name": None, "schema_qualified_table_name": name}) is included


def test_host_autogenerate_filter_keeps_the_hosts_own_filter(make_app):
    seen = []

    def host_filter(name, type_, parent_names):
        seen.append(name)
        return name != "legacy_stuff"

    app = make_app(migrate=False)
    state = app.extensions["migrate"]
    state.configure_args["include_name"] = host_filter
    from agentidp_analytics_plugin import migration_setup

    migration_setup.register(app)
    include = state.configure_args["include_name"]
    assert include("legacy_stuff", "table", {}) is False
    assert include("agents", "table", {}) is True
    assert include("analytics_daily_aggregates", "table", {}) is False
    assert seen == ["legacy_stuff", "agents"]


def test_the_scheduler_stays_off_in_tests(app):
    assert get_state(app).scheduled is False


def test_the_scheduler_stays_off_under_cli_commands(make_app):
    import click

    with click.Context(click.Command("upgrade"), info_name="upgrade"):
        app = make_app(migrate=False, TESTING=False, ANALYTICS_SCHEDULER_ENABLED=True)
    assert get_state(app).scheduled is False


def test_the_scheduler_stays_off_in_the_reloader_parent(make_app, monkeypatch):
    import click

    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    command = click.Command("run", params=[click.Option(["--reload/--no-reload"], default=None)])
    with click.Context(command, info_name="run") as ctx:
        ctx.params["reload"] = True
        app = make_app(migrate=False, TESTING=False, ANALYTICS_SCHEDULER_ENABLED=True)
    assert get_state(app).scheduled is False


def test_a_serving_process_schedules_the_job_at_0005_utc(make_app):
    app = make_app(migrate=False, TESTING=False, ANALYTICS_SCHEDULER_ENABLED=True)
    try:
        assert get_state(app).scheduled is True
        job = app.apscheduler.get_job(JOB_ID)
        fields = {f.name: str(f) for f in job.trigger.fields}
        assert (fields["hour"], fields["minute"]) == ("0", "5")
        assert str(job.trigger.timezone) == "UTC"
    finally:
        app.apscheduler.shutdown(wait=False)


def test_the_scheduled_job_aggregates_inside_an_app_context(app, host):
    from datetime import timedelta

    from agentidp_analytics_plugin.aggregation import utc_today
    from agentidp_analytics_plugin.scheduler import run_scheduled_job

    tenant = host.tenant()
    host.events([(tenant, None, utc_today() - timedelta(days=1), "api_calls", 4)])
    run_scheduled_job(app)
    (total,) = host.execute("SELECT SUM(count) FROM analytics_daily_aggregates").one()
    assert total == 4
