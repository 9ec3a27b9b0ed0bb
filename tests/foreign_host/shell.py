"""Orbit's operators at a shell: real ``flask`` processes against a deployment's environment."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from .orbit_idp.settings import PLUGIN_ENV_KEYS

TESTS_DIR = Path(__file__).resolve().parents[1]
MIGRATIONS_DIR = Path(__file__).resolve().parent / "orbit_idp" / "migrations"

#: The README's commands that create the tables: the host's history, then the plugin's.
README_UPGRADE = (("db", "upgrade"), ("analytics", "db", "upgrade"))


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str


def flask(environ: dict[str, str], *args: str, config: dict[str, Any] | None = None, cwd: Path) -> Run:
    """``flask --app foreign_host.orbit_idp:create_app(<config>) <args>`` in a fresh process."""
    app = f"foreign_host.orbit_idp:create_app({config!r})" if config else "foreign_host.orbit_idp:create_app"
    return _run(environ, ["-m", "flask", "--app", app, *args], cwd)


def readme_upgrade(environ: dict[str, str], *, config: dict[str, Any] | None = None, cwd: Path) -> Run:
    """The README's commands one after the other, stopping at the first that fails."""
    output = ""
    for command in README_UPGRADE:
        run = flask(environ, *command, config=config, cwd=cwd)
        output += run.output
        if run.returncode != 0:
            return Run(run.returncode, output)
    return Run(0, output)


def python(environ: dict[str, str], *lines: str, cwd: Path) -> Run:
    """A Python script in a fresh interpreter, with Orbit importable."""
    return _run(environ, ["-c", "\n".join(lines)], cwd)


def _run(environ: dict[str, str], args: list[str], cwd: Path) -> Run:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", *PLUGIN_ENV_KEYS}}
    env.update(environ, PYTHONPATH=str(TESTS_DIR))
    # -P and a neutral cwd: the installed plugin runs, never a source tree next to the tests.
    completed = subprocess.run(
        [sys.executable, "-P", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Run(completed.returncode, completed.stdout + completed.stderr)


def table_names(database_url: str) -> set[str]:
    engine = sa.create_engine(database_url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def scalar(database_url: str, sql: str) -> Any:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()
    finally:
        engine.dispose()
