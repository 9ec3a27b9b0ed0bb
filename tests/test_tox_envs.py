"""tox.ini's lowest and newest envs run a list of test modules: a new one is listed or left out on purpose."""

from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tox() -> configparser.ConfigParser:
    config = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=None)
    config.read(ROOT / "tox.ini")
    return config


def _listed(key: str, section: str = "versioned") -> set[str]:
    lines = (line.strip() for line in _tox()[section][key].splitlines())
    return {line for line in lines if line and not line.startswith("#")}


def _modules_under(path: str) -> set[str]:
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / path).glob("test_*.py")}


def test_every_plugin_test_module_runs_in_lowest_and_newest_or_is_left_out_on_purpose():
    tests, left_out = _listed("tests"), _listed("left_out")
    assert not tests & left_out
    assert _modules_under("tests") - tests - left_out == set()


def test_every_listed_module_exists():
    for path in _listed("tests") | _listed("left_out"):
        assert (ROOT / path).exists(), path


def _left_out_of_the_second_py_run() -> set[str]:
    """The files the py env's --ignore and --ignore-glob options name, resolved from tox.ini's folder as pytest does."""
    (command,) = [line for line in _tox()["testenv"]["commands"].splitlines() if "--ignore" in line]
    files: set[str] = set()
    for option in command.split():
        name, _, value = option.partition("=")
        if name in ("--ignore", "--ignore-glob"):
            files |= {p.relative_to(ROOT).as_posix() for p in ROOT.glob(value)}
    return files


def test_the_coverage_gate_runs_every_service_and_endpoint_module():
    gate = _listed("tests", section="gate")
    assert gate == {"tests/test_service.py"} | {m for m in _modules_under("tests") if m.startswith("tests/test_api_")}


def test_the_second_py_run_leaves_out_exactly_the_modules_the_coverage_gate_ran():
    assert _left_out_of_the_second_py_run() == _listed("tests", section="gate")
