"""Orbit's Alembic workflow with the plugin installed, run as an operator runs it: ``flask db ...``."""

from __future__ import annotations

from pathlib import Path

from .shell import README_UPGRADE, flask, table_names

ORBIT_TABLES = {"orgs", "bots", "bot_usage", "members", "api_keys"}
PLUGIN_TABLES = {"analytics_daily_aggregates", "analytics_aggregated_days"}


def test_the_readme_command_creates_orbits_tables_and_the_plugins(orbit_env: dict[str, str], tmp_path: Path) -> None:
    run = flask(orbit_env, *README_UPGRADE, cwd=tmp_path)

    assert run.returncode == 0, run.output
    assert table_names(orbit_env["DATABASE_URL"]) >= ORBIT_TABLES | PLUGIN_TABLES


def test_host_autogenerate_after_the_readme_upgrade_finds_nothing_to_do(
    orbit_env: dict[str, str], tmp_path: Path, migrations_copy: Path
) -> None:
    config = {"ORBIT_MIGRATIONS_DIR": str(migrations_copy)}
    assert flask(orbit_env, *README_UPGRADE, config=config, cwd=tmp_path).returncode == 0
    before = set((migrations_copy / "versions").glob("*.py"))

    run = flask(orbit_env, "db", "migrate", "-m", "nothing", config=config, cwd=tmp_path)

    assert run.returncode == 0, run.output
    assert set((migrations_copy / "versions").glob("*.py")) == before


def test_the_readme_command_runs_orbits_revision_before_the_plugins(orbit_env: dict[str, str], tmp_path: Path) -> None:
    run = flask(orbit_env, *README_UPGRADE, cwd=tmp_path)

    assert run.returncode == 0, run.output
    assert run.output.index("5c0f1e2a9b77, orgs, bots and bot usage") < run.output.index("analytics")
