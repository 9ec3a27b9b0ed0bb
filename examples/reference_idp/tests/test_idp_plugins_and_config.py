"""Plugin discovery and environment-driven configuration."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import flask_migrate
import pytest

from reference_idp import create_app
from reference_idp.config import database_url, instance_secret_key
from reference_idp.headers import CONTENT_SECURITY_POLICY
from reference_idp.plugins import discover, selected_names


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, None), ("", set()), ("analytics", {"analytics"}), (" a , b,", {"a", "b"})],
    ids=["unset-means-all", "empty-means-none", "one", "list"],
)
def test_idp_plugins_selection(raw, expected):
    assert selected_names(raw) == expected


def test_requesting_an_uninstalled_plugin_fails_with_advice():
    with pytest.raises(RuntimeError, match="not-installed-plugin"):
        discover("not-installed-plugin")


def _app(monkeypatch, tmp_path, test_config=None, **env):
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDP_PLUGINS", "")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return create_app(
        {
            "SECRET_KEY": "x",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
            **(test_config or {}),
        }
    )


def test_host_alone_loads_no_plugin(monkeypatch, tmp_path):
    app = _app(monkeypatch, tmp_path)
    assert app.config["IDP_LOADED_PLUGINS"] == []
    assert "agentidp_analytics" not in app.extensions


def test_plugin_contract_keys_are_set(monkeypatch, tmp_path):
    config = _app(monkeypatch, tmp_path).config
    assert config["ANALYTICS_API_TENANT_RESOLVER"].endswith("analytics_host:resolve_api_tenant")
    assert config["ANALYTICS_UI_TENANT_RESOLVER"].endswith("analytics_host:resolve_session_tenant")
    assert config["ANALYTICS_BASE_TEMPLATE"] == "reference_idp/base.html"
    assert config[config["ANALYTICS_NAV_CONFIG_KEY"]][0]["endpoint"] == "dashboard.index"


def test_redis_url_configures_plugin_cache_and_rate_limits(monkeypatch, tmp_path):
    config = _app(monkeypatch, tmp_path, REDIS_URL="redis://127.0.0.1:6379/3").config
    assert config["ANALYTICS_CACHE_REDIS_URL"] == "redis://127.0.0.1:6379/3"
    assert config["ANALYTICS_RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/3"


def test_without_redis_url_plugin_defaults_apply(monkeypatch, tmp_path):
    config = _app(monkeypatch, tmp_path).config
    assert "ANALYTICS_CACHE_REDIS_URL" not in config
    assert "ANALYTICS_RATELIMIT_STORAGE_URI" not in config


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (None, "sqlite:////srv/instance/reference_idp.sqlite"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ],
    ids=["default-sqlite", "postgresql", "postgres-alias", "explicit-driver"],
)
def test_database_url_from_environment(monkeypatch, env, expected):
    if env is None:
        monkeypatch.delenv("DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("DATABASE_URL", env)
    assert database_url("/srv/instance") == expected


def test_secret_key_is_generated_once_into_the_instance_folder(tmp_path):
    first = instance_secret_key(str(tmp_path / "instance"))
    assert len(first) == 64
    assert instance_secret_key(str(tmp_path / "instance")) == first
    assert (tmp_path / "instance" / "secret_key").stat().st_mode & 0o077 == 0


def test_csp_policy_is_the_strict_one():
    assert CONTENT_SECURITY_POLICY == (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
    )


def test_every_analytics_variable_reaches_the_config_as_text(monkeypatch, tmp_path):
    config = _app(
        monkeypatch,
        tmp_path,
        ANALYTICS_GALLERY_ENABLED="true",
        ANALYTICS_RATELIMIT="5 per minute",
        ANALYTICS_PAID_TIERS="pro,enterprise",
    ).config
    assert config["ANALYTICS_GALLERY_ENABLED"] == "true"
    assert config["ANALYTICS_RATELIMIT"] == "5 per minute"
    assert config["ANALYTICS_PAID_TIERS"] == "pro,enterprise"


def test_other_variables_stay_out_of_the_config(monkeypatch, tmp_path):
    config = _app(monkeypatch, tmp_path, ANALYTICSX="1", MY_ANALYTICS_KEY="1").config
    assert "ANALYTICSX" not in config and "MY_ANALYTICS_KEY" not in config


def test_an_analytics_variable_overrides_the_hosts_default(monkeypatch, tmp_path):
    config = _app(monkeypatch, tmp_path, ANALYTICS_BASE_TEMPLATE="custom/base.html").config
    assert config["ANALYTICS_BASE_TEMPLATE"] == "custom/base.html"


def test_test_settings_win_over_analytics_variables(monkeypatch, tmp_path):
    config = _app(
        monkeypatch,
        tmp_path,
        {"ANALYTICS_RATELIMIT": "9 per minute"},
        ANALYTICS_RATELIMIT="5 per minute",
    ).config
    assert config["ANALYTICS_RATELIMIT"] == "9 per minute"


@pytest.mark.parametrize(
    ("value", "status"), [("true", 200), ("false", 404)], ids=["turned-on", "turned-off"]
)
def test_the_environment_turns_the_plugins_gallery_on_and_off(monkeypatch, tmp_path, value, status):
    app = _app(
        monkeypatch,
        tmp_path,
        IDP_PLUGINS="analytics",
        ANALYTICS_GALLERY_ENABLED=value,
        ANALYTICS_SCHEDULER_ENABLED="false",
    )
    assert app.test_client().get("/analytics/_gallery").status_code == status


def test_a_signed_out_visit_to_the_analytics_tab_goes_to_login_and_back(monkeypatch, tmp_path):
    app = _app(monkeypatch, tmp_path, IDP_PLUGINS="analytics", ANALYTICS_SCHEDULER_ENABLED="false")
    with app.app_context():
        flask_migrate.upgrade()
        app.extensions["agentidp_analytics"].upgrade_schema()
    response = app.test_client().get("/analytics/?range=7")
    assert response.status_code == 302
    # Werkzeug versions quote the query differently; what it says is the same.
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query) == {"next": ["/analytics/?range=7"]}
