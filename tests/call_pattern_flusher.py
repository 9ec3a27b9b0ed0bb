"""A flusher process for the call-pattern fault tests: ``python call_pattern_flusher.py POINT``.

``FLUSHER_DATABASE_URL`` and ``FLUSHER_REDIS_URL`` name the services. POINT:

* ``before-commit``: flush, and stop inside the first batch's transaction, rows
  added and batch recorded but not committed (prints ``PAUSED`` and waits to be killed);
* ``after-commit``: flush, and stop after the first batch committed, before its
  Redis hash is deleted (prints ``PAUSED``);
* ``loop``: flush over and over until ``FLUSHER_SECONDS`` have passed, then print ``DONE``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent))

import redis
import sqlalchemy as sa

from agentidp_analytics_plugin.call_flush import CLAIMED_PREFIX
from agentidp_analytics_plugin.call_setup import flush
from agentidp_analytics_plugin.state import get_state
from call_pattern_helpers import CAPTURE_CONFIG, add_api_routes
from host_app import create_host_app


def _pause() -> None:
    print("PAUSED", flush=True)
    time.sleep(600)
    sys.exit("not killed")


def main(point: str) -> None:
    app = create_host_app(
        os.environ["FLUSHER_DATABASE_URL"],
        add_api_routes,
        **CAPTURE_CONFIG,
        ANALYTICS_CALL_PATTERNS_REDIS_URL=os.environ["FLUSHER_REDIS_URL"],
    )
    state = get_state(app)
    if point == "before-commit":
        sa.event.listen(state.engine, "commit", lambda _conn: _pause())
    elif point == "after-commit":
        real_delete = redis.Redis.delete

        def delete_then_pause(self, *names):
            if any(str(n).startswith(CLAIMED_PREFIX) for n in names):
                _pause()
            return real_delete(self, *names)

        redis.Redis.delete = delete_then_pause
    if point == "loop":
        deadline = time.monotonic() + float(os.environ.get("FLUSHER_SECONDS", "5"))
        with app.app_context():
            while time.monotonic() < deadline:
                flush(state)
        print("DONE", flush=True)
        return
    with app.app_context():
        flush(state)
    print("FINISHED WITHOUT PAUSING", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
