"""Parallel test runs (pytest-xdist, ``-n``): every worker gets databases and a Redis database of its own.

Imported before any other conftest or test module, so the settings every
fixture module reads at import time (``tests/testenv.py``, the foreign host's
and the reference host's conftests) already name the worker's own: the
PostgreSQL databases get the worker id as a suffix (``<TEST_PG_DATABASE>_gw1``),
and worker N uses the Redis database N below ``TEST_REDIS_URL``'s.
"""

from __future__ import annotations

import os

_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker:
    _n = int(_worker.removeprefix("gw"))
    os.environ["TEST_PG_DATABASE"] = f"{os.environ.get('TEST_PG_DATABASE', 'analytics_plugin_test')}_{_worker}"
    _prefix, _, _db = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rpartition("/")
    os.environ["TEST_REDIS_URL"] = f"{_prefix}/{int(_db) - _n}"
