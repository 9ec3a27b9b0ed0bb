"""scripts/vendor_static.py when npm cannot reach its registry: a message that says what to do, no traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed (CI installs it to check static/vendor/)")
def test_an_unreachable_npm_registry_gets_a_clear_message_and_changes_nothing(tmp_path: Path) -> None:
    before = {p.name: p.read_bytes() for p in (ROOT / "static" / "vendor").iterdir()}
    env = {
        **os.environ,
        "npm_config_registry": "http://127.0.0.1:9/",  # nothing listens on the discard port
        "npm_config_cache": str(tmp_path / "npm-cache"),  # an empty cache: npm must ask the registry
        "npm_config_fetch_retries": "0",
        "npm_config_fetch_timeout": "5000",
    }

    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "vendor_static.py"), "--check"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )

    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert "npm ci failed" in run.stderr and "http://127.0.0.1:9/" in run.stderr
    assert {p.name: p.read_bytes() for p in (ROOT / "static" / "vendor").iterdir()} == before
