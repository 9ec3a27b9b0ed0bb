"""The scale benchmark's harness keeps working: its quick mode runs and prints every section of its table.

Timings are the benchmark's business (docs/benchmarks.md), never asserted here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from testenv import BACKENDS, PG_DATABASE

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif("postgresql" not in BACKENDS, reason="the benchmark seeds PostgreSQL")


def test_the_quick_benchmark_prints_the_whole_table():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_scale.py"), "--quick", "--database", f"{PG_DATABASE}_bench"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "machine: " in out
    headings = ("## 1. Cost growth", "## 2. Cache hit", "### 2b. The same over HTTP", "## 3. One night's", "## 4. Peak")
    for heading in headings:
        assert heading in out
    rows = ("usage-summary", "token-trends (week)", "agent-activity, every agent", "the worker's tier", "write floor")
    for row in (*rows, "Backfill of"):
        assert row in out
    # One row per size for the first endpoint: the sizes of the quick mode.
    assert "| 10 |" in out and "| 40 |" in out
