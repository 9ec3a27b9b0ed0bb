"""``pip install .`` gives a working plugin: package data is inside the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from importlib.metadata import entry_points
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("agentidp_analytics_plugin-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


@pytest.mark.parametrize(
    "source",
    [
        *(p.relative_to(ROOT).as_posix() for p in (ROOT / "templates").rglob("*.html")),
        *(p.relative_to(ROOT).as_posix() for p in (ROOT / "static").rglob("*") if p.suffix in {".js", ".css", ".json"}),
        "migrations/env.py",
        "migrations/versions/009_add_analytics_aggregates.py",
        "migrations/versions/011_add_analytics_job_state.py",
    ],
)
def test_every_data_file_ships_inside_the_package(wheel_names, source):
    assert f"agentidp_analytics_plugin/{source}" in wheel_names


def test_the_wheel_declares_the_plugin_entry_point(wheel, wheel_names):
    (name,) = [n for n in wheel_names if n.endswith(".dist-info/entry_points.txt")]
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(name).decode()
    assert "[agentidp.plugins]\nanalytics = agentidp_analytics_plugin:analytics" in text


def test_the_installed_entry_point_names_the_extension_object():
    (ep,) = [ep for ep in entry_points(group="agentidp.plugins") if ep.name == "analytics"]
    assert ep.value == "agentidp_analytics_plugin:analytics"
    assert hasattr(ep.load(), "init_app")
