"""Orbit's Alembic workflow with the plugin installed, run as an operator runs it: ``flask ...`` at a shell."""

from __future__ import annotations

from pathlib import Path

from .shell import flask, readme_upgrade, table_names

ORBIT_TABLES = {"orgs", "bots", "bot_usage", "members", "api_keys"}
PLUGIN_TABLES = {"analytics_daily_aggregates", "analytics_aggregated_days", "analytics_job_state"}


def _new_revisions(migrations: Path, before: set[Path]) -> list[Path]:
    return sorted(set((migrations / "versions").glob("*.py")) - before)


def test_the_readme_commands_create_orbits_tables_and_the_plugins(orbit_env: dict[str, str], tmp_path: Path) -> None:
    run = readme_upgrade(orbit_env, cwd=tmp_path)

    assert run.returncode == 0, run.output
    assert table_names(orbit_env["DATABASE_URL"]) >= ORBIT_TABLES | PLUGIN_TABLES


def test_plain_flask_db_upgrade_creates_orbits_tables_as_without_the_plugin(
    orbit_env: dict[str, str], tmp_path: Path
) -> None:
    run = flask(orbit_env, "db", "upgrade", cwd=tmp_path)

    assert run.returncode == 0, run.output
    assert table_names(orbit_env["DATABASE_URL"]) == ORBIT_TABLES | {"alembic_version"}


def test_plain_flask_db_migrate_writes_orbits_next_revision_on_orbits_head(
    orbit_env: dict[str, str], tmp_path: Path, migrations_copy: Path
) -> None:
    (migrations_copy / "versions" / "8d3b6a41c2f0_console_members_and_api_keys.py").unlink()
    config = {"ORBIT_MIGRATIONS_DIR": str(migrations_copy)}
    assert readme_upgrade(orbit_env, config=config, cwd=tmp_path).returncode == 0
    before = set((migrations_copy / "versions").glob("*.py"))

    run = flask(orbit_env, "db", "migrate", "-m", "members", config=config, cwd=tmp_path)

    assert run.returncode == 0, run.output
    (written,) = _new_revisions(migrations_copy, before)
    source = written.read_text()
    assert "down_revision = '5c0f1e2a9b77'" in source
    assert "'members'" in source
    assert "analytics" not in source


def test_orbits_autogenerate_after_the_readme_commands_finds_nothing_to_do(
    orbit_env: dict[str, str], tmp_path: Path, migrations_copy: Path
) -> None:
    config = {"ORBIT_MIGRATIONS_DIR": str(migrations_copy)}
    assert readme_upgrade(orbit_env, config=config, cwd=tmp_path).returncode == 0
    before = set((migrations_copy / "versions").glob("*.py"))

    run = flask(orbit_env, "db", "migrate", "-m", "nothing", config=config, cwd=tmp_path)

    assert run.returncode == 0, run.output
    assert _new_revisions(migrations_copy, before) == []


def test_orbits_autogenerate_says_nothing_about_the_plugins_tables(
    orbit_env: dict[str, str], tmp_path: Path, migrations_copy: Path
) -> None:
    config = {"ORBIT_MIGRATIONS_DIR": str(migrations_copy)}
    assert readme_upgrade(orbit_env, config=config, cwd=tmp_path).returncode == 0

    run = flask(orbit_env, "db", "migrate", "-m", "nothing", config=config, cwd=tmp_path)

    assert "analytics" not in run.output.lower()


def test_plain_flask_db_downgrade_steps_back_orbits_last_revision_and_keeps_the_plugins_tables(
    orbit_env: dict[str, str], tmp_path: Path
) -> None:
    assert readme_upgrade(orbit_env, cwd=tmp_path).returncode == 0

    run = flask(orbit_env, "db", "downgrade", cwd=tmp_path)

    assert run.returncode == 0, run.output
    tables = table_names(orbit_env["DATABASE_URL"])
    assert "members" not in tables
    assert tables >= PLUGIN_TABLES


def test_a_new_host_autogenerates_its_first_revision_with_the_plugin_installed(
    orbit_env: dict[str, str], tmp_path: Path, migrations_copy: Path
) -> None:
    for revision in (migrations_copy / "versions").glob("*.py"):
        revision.unlink()
    config = {"ORBIT_MIGRATIONS_DIR": str(migrations_copy)}

    run = flask(orbit_env, "db", "migrate", "-m", "first", config=config, cwd=tmp_path)

    assert run.returncode == 0, run.output
    (written,) = _new_revisions(migrations_copy, set())
    assert "'bot_usage'" in written.read_text()
    assert "analytics" not in written.read_text()


def test_the_plugins_upgrade_before_orbits_tables_names_the_table_its_key_and_what_to_run(
    orbit_env: dict[str, str], tmp_path: Path
) -> None:
    run = flask(orbit_env, "analytics", "db", "upgrade", cwd=tmp_path)

    assert run.returncode != 0
    assert "ANALYTICS_TENANTS_TABLE" in run.output
    assert "'orgs'" in run.output or '"orgs"' in run.output or "`orgs`" in run.output
    assert "flask db upgrade" in run.output
    assert "Traceback" not in run.output


def test_the_plugins_upgrade_before_orbits_tables_creates_nothing(orbit_env: dict[str, str], tmp_path: Path) -> None:
    flask(orbit_env, "analytics", "db", "upgrade", cwd=tmp_path)

    assert table_names(orbit_env["DATABASE_URL"]) & PLUGIN_TABLES == set()


def test_a_wrong_host_table_name_is_refused_naming_its_key(orbit_env: dict[str, str], tmp_path: Path) -> None:
    run = readme_upgrade(orbit_env, config={"ANALYTICS_AGENTS_TABLE": "agents"}, cwd=tmp_path)

    assert run.returncode != 0
    assert "ANALYTICS_AGENTS_TABLE" in run.output
    assert "Traceback" not in run.output


def test_a_depends_on_revision_unknown_to_orbits_history_never_ends_in_a_traceback(
    orbit_env: dict[str, str], tmp_path: Path
) -> None:
    run = readme_upgrade(orbit_env, config={"ANALYTICS_MIGRATION_DEPENDS_ON": "0123456789ab"}, cwd=tmp_path)

    assert "Traceback" not in run.output
